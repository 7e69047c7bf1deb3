"""Pictures from embedded Python runs: what ``graphics=True`` returns.

:class:`GraphicsResult` holds a function's return value and the matplotlib
figures it drew, each an :class:`Image`.  Both display as pictures in
Jupyter and IPython's rich front ends (``_repr_png_`` / ``_repr_html_``)
and can be written to PNG files (``save``).  An :class:`Image` is a
``(title, png)`` tuple, so code unpacking the pairs keeps working.
"""

from __future__ import annotations

import base64
import html
import os
import pathlib
import struct
from typing import Any, NamedTuple, Optional, Union

__all__ = ["Image", "GraphicsResult"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PathLike = Union[str, "os.PathLike[str]"]


class _ImageBase(NamedTuple):
    title: Optional[str]
    png: bytes


class Image(_ImageBase):
    """One figure: its title and its PNG bytes, a ``(title, png)`` tuple.

    Attributes
    ----------
    title : str or None
        The figure's suptitle, else its first axes title; None without one.
    png : bytes
        The PNG file's bytes.
    """

    __slots__ = ()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, from the PNG header."""
        return _png_size(self.png)

    def _repr_png_(self) -> bytes:
        """The PNG bytes, for IPython's display."""
        return self.png

    def _repr_html_(self) -> str:
        """An ``<img>`` (with the title as caption), for Jupyter."""
        return _figure_html(self)

    def save(self, path: PathLike) -> pathlib.Path:
        """Write the PNG to a file.

        Parameters
        ----------
        path : str or path-like
            The file to write (replaced if it exists).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        target = pathlib.Path(os.fspath(path))
        target.write_bytes(self.png)
        return target

    def __repr__(self) -> str:
        return "Image(title=%r, png=<%d bytes of PNG>)" % (self.title,
                                                          len(self.png))


def _png_size(png: bytes) -> tuple[int, int]:
    if not (png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"):
        raise ValueError("not a PNG image")
    return struct.unpack("!II", png[16:24])


def _figure_html(image) -> str:
    title, png = image[0], image[1]
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(title if title is not None else "figure", quote=True)
    caption = ("<figcaption>%s</figcaption>" % html.escape(title)
               if title is not None else "")
    return ('<figure style="margin:0"><img src="data:image/png;base64,%s"'
            ' alt="%s"/>%s</figure>' % (data, alt, caption))


def _short_repr(obj: Any, limit: int = 60) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class GraphicsResult:
    """What a function run with ``graphics=True`` returned and drew.

    In Jupyter it displays as its figures (with the result's repr above
    them); ``save(path)`` writes them to PNG files.

    Attributes
    ----------
    result : object
        The function's return value.
    images : list of Image
        One :class:`Image` (a ``(title, png)`` tuple) per matplotlib figure
        the function left open, in figure-number order: the figure's title
        (its suptitle, or else the first axes title; None without one) and
        the PNG bytes of the figure.
    """

    def __init__(self, result: Any, images: list) -> None:
        self.result = result
        self.images = [Image(*image) for image in images]

    def __setstate__(self, state: dict) -> None:
        """Unpickling: pairs pickled before Image existed become Images."""
        self.__dict__.update(state)
        self.images = [Image(*image) for image in self.images]

    def __repr__(self) -> str:
        return "GraphicsResult(result=%s, images=[%s])" % (
            _short_repr(self.result),
            ", ".join("(%r, <%d bytes of PNG>)" % (image[0], len(image[1]))
                      for image in self.images))

    def _repr_png_(self) -> Optional[bytes]:
        """The first figure's PNG bytes (None without figures), for
        IPython's display."""
        return self.images[0][1] if self.images else None

    def _repr_html_(self) -> Optional[str]:
        """The result's repr and every figure as an ``<img>``, for Jupyter
        (None without figures: then the plain repr is shown)."""
        if not self.images:
            return None
        parts = ["<pre>%s</pre>" % html.escape(_short_repr(self.result, 200))]
        parts.extend(_figure_html(image) for image in self.images)
        return "<div>%s</div>" % "".join(parts)

    def save(self, path: PathLike,
             index: Optional[int] = None) -> list[pathlib.Path]:
        """Write figures to PNG files.

        Parameters
        ----------
        path : str or path-like
            The file to write.  When several figures are written, the
            figure's number (1, 2, ...) is put before the suffix:
            ``plot.png`` becomes ``plot-1.png``, ``plot-2.png``, ...
        index : int, optional
            Write only ``images[index]`` (to ``path`` itself); by default
            every figure (a single one to ``path`` itself).

        Returns
        -------
        list of pathlib.Path
            The files written, in figure order.

        Raises
        ------
        ValueError
            There are no figures.
        IndexError
            ``index`` is out of range.
        """
        if not self.images:
            raise ValueError("the function drew no figures")
        target = pathlib.Path(os.fspath(path))
        if index is not None:
            return [Image(*self.images[index]).save(target)]
        if len(self.images) == 1:
            return [Image(*self.images[0]).save(target)]
        written = []
        for number, image in enumerate(self.images, 1):
            name = "%s-%d%s" % (target.stem, number, target.suffix)
            written.append(Image(*image).save(target.with_name(name)))
        return written
