"""The extension's own HTTP API, beside A1111's: installed motion modules, the catalog,
and downloads by catalog name.

    GET  /animatediff/v1/motion-modules                 installed modules (family, base, hash, fit)
    GET  /animatediff/v1/catalog                        the catalog, installed files marked
    POST /animatediff/v1/motion-modules/download        {"name": <catalog name>} starts a download (202)
    GET  /animatediff/v1/motion-modules/download/{name} its progress
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and the
# request model is defined inside add_routes, where a string annotation could not find it
from typing import Any

from ..errors import AnimateDiffError
from .downloads import DownloadService

PREFIX = "/animatediff/v1"


def add_routes(app: Any, service: DownloadService) -> None:
    from fastapi import APIRouter, HTTPException
    from pydantic import BaseModel

    class DownloadRequest(BaseModel):
        name: str

    def answer(call: Any, *args: Any) -> Any:
        # our errors carry their HTTP status; say it here too, for a WebUI started without --api,
        # where A1111's exception handlers that read it are not installed
        try:
            return call(*args)
        except AnimateDiffError as error:
            raise HTTPException(status_code=error.http_status, detail=str(error)) from error

    router = APIRouter(prefix=PREFIX, tags=["AnimateDiff"])
    router.add_api_route("/motion-modules", lambda: answer(service.installed_listing), methods=["GET"])
    router.add_api_route("/catalog", lambda: answer(service.catalog_listing), methods=["GET"])

    def start(request: DownloadRequest) -> dict:
        return answer(service.start, request.name).as_dict()

    def progress(name: str) -> dict:
        return answer(service.status, name).as_dict()

    router.add_api_route("/motion-modules/download", start, methods=["POST"], status_code=202)
    router.add_api_route("/motion-modules/download/{name}", progress, methods=["GET"])
    app.include_router(router)
