"""A local web demo of the denoiser, like the model card's widget: ``modelscope-frcrn serve``.

Standard library only (``http.server``): one page with its script and style
from this package, the bundled example, and a JSON endpoint that denoises the
uploaded file, one request at a time.
"""
from .worker import MAX_SECONDS, MAX_UPLOAD_BYTES, DemoWorker, Enhancement, RequestRejected
from .server import ServerStartError, add_parser, make_server, serve

__all__ = ['DemoWorker', 'Enhancement', 'MAX_SECONDS', 'MAX_UPLOAD_BYTES', 'RequestRejected',
           'ServerStartError', 'add_parser', 'make_server', 'serve']
