/*-------------------------------------------------------------------------
 *
 * frame.h
 *	  The frames of the sandbox's sockets, shared by the backend
 *	  (src/sandbox.c) and the program oml_sandbox.
 *
 * One frame is one SOCK_SEQPACKET message: uint32 payload length (native
 * byte order), one type byte, the payload; at most one fd attached.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OML_SANDBOX_FRAME_H
#define OML_SANDBOX_FRAME_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define OML_FRAME_HEAD 5

/* Send one frame once (fd < 0: none) with sendmsg flags; its result. */
static inline ssize_t
oml_frame_send_flags(int sock, char type, const void *payload, uint32_t len,
					 int fd, int flags)
{
	char		head[OML_FRAME_HEAD];
	struct iovec iov[2];
	struct msghdr msg;
	union
	{
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	}			cm;

	memset(&msg, 0, sizeof(msg));
	memcpy(head, &len, 4);
	head[4] = type;
	iov[0].iov_base = head;
	iov[0].iov_len = OML_FRAME_HEAD;
	iov[1].iov_base = (void *) payload;
	iov[1].iov_len = len;
	msg.msg_iov = iov;
	msg.msg_iovlen = len ? 2 : 1;
	if (fd >= 0)
	{
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
}

/* Send one frame once, blocking (fd < 0: none); sendmsg's result. */
static inline ssize_t
oml_frame_send(int sock, char type, const void *payload, uint32_t len, int fd)
{
	return oml_frame_send_flags(sock, type, payload, len, fd, 0);
}

#endif							/* OML_SANDBOX_FRAME_H */
