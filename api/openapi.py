"""The OpenAPI document, complete enough to generate a working client from (openapi-python-client is tested).

Each component is filed under its title: pydantic files ``Page[AppointmentPublic]`` as
``Page_AppointmentPublic_``, while generators name classes after titles.
"""

import json

from fastapi import FastAPI


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) the document described above."""
    generate = app.openapi
    completed = None

    def openapi() -> dict:
        nonlocal completed
        document = generate()  # FastAPI's, cached until the routes change: completed once
        if document is not completed:
            _file_by_title(document)
            completed = document
        return document

    app.openapi = openapi


def _file_by_title(document: dict) -> None:
    """File each schema under its title where pydantic mangled the name of a generic model.

    ``Page[AppointmentPublic]`` is filed as ``Page_AppointmentPublic_``; its title, ``AppointmentPage`` (see
    ``Page.model_parametrized_name``), is the name a generated client gives its class, so it becomes the name.
    """
    schemas = document["components"]["schemas"]
    renamed = {name: schema["title"] for name, schema in schemas.items()
               if schema.get("title", name) != name and schema["title"].isidentifier()
               and schema["title"] not in schemas}
    text = json.dumps({"paths": document["paths"], "schemas": schemas})
    for old, new in renamed.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renewed = json.loads(text)
    document["paths"] = renewed["paths"]
    document["components"]["schemas"] = dict(sorted(
        (renamed.get(name, name), schema) for name, schema in renewed["schemas"].items()))
