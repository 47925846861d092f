"""``facecanvas web``: a local web page for every operation of the registry (photos, videos, webcam).

Why FastAPI + uvicorn + a plain HTML/JS page, not Gradio: Gradio (6.31, the newest) requires
``pillow<13``, and Pillow 13.0.0 is fixed by the project (with numpy 1.26.4 and protobuf 4.25.9 for
MediaPipe); it would also bring pandas, huggingface-hub and a large front-end bundle. FastAPI, uvicorn
and python-multipart resolve with the fixed pins (requirements-web.lock), and the page (static/) is three
small files served by the app itself, so nothing is fetched from the network at run time.

The app only maps form input onto the library: ``forms`` turns each operation's ``Options.schema()`` into
form fields and back into an ``OpSpec``; ``app.WebApp`` builds the operation through the registry (once
per distinct spec, ``jobs.LRU``) and runs it with ``pipeline.make_analyzer``/``make_processor``,
``media.image_io.load_image``/``save_result`` and ``video.process_video``; ``jobs`` holds the private
folder (0700, swept by age and removed on exit) and the queue with its concurrency limit.

    from facecanvas.web import create_app
    from facecanvas.web.server import WebServer
    with WebServer(create_app(), port=7860) as server:
        print(server.url)
"""

from .app import WebApp, create_app

__all__ = ["WebApp", "create_app"]
