"""Serves the AsyncAPI document of the edge.* events: the committed YAML, the same document as
JSON, and /asyncdoc, a reference page rendered here from the document.

The page is plain HTML with inline CSS (no CDN, no script) so it works on air-gapped hosts, and
everything on it comes from the document, so it cannot disagree with the schemas.
"""

from __future__ import annotations

import functools
import json
import re
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from domain.event_stream import StreamSettings
from entrypoints.http.openapi.asyncapi import build_asyncapi, to_yaml
from entrypoints.http.responses import JSONResponse

Schema = dict[str, Any]
CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #1f2328; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
pre { background: #f6f8fa; padding: .75rem; overflow: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
section { border-top: 2px solid #d0d7de; margin-top: 2.5rem; }
h1 small { color: #656d76; font-weight: normal; }
"""


@functools.cache
def document(stream: StreamSettings) -> Schema:
    return build_asyncapi(stream)


@functools.cache
def page(stream: StreamSettings) -> str:
    return render(document(stream))


@functools.cache
def yaml_text(stream: StreamSettings) -> str:
    return to_yaml(document(stream))


def _stream(request: Request) -> StreamSettings:
    """The stream and subjects this admin publishes to, which the served document names."""
    settings = request.app.state.settings
    return StreamSettings(settings.nats_stream, settings.nats_subject_prefix)


async def asyncapi_yaml(request: Request) -> Response:
    return Response(yaml_text(_stream(request)), media_type="application/yaml")


async def asyncapi_json(request: Request) -> Response:
    return JSONResponse(document(_stream(request)))


async def asyncdoc(request: Request) -> Response:
    return HTMLResponse(page(_stream(request)))


ROUTES = [
    Route("/asyncapi.yaml", asyncapi_yaml, methods=["GET"]),
    Route("/asyncapi.json", asyncapi_json, methods=["GET"]),
    Route("/asyncdoc", asyncdoc, methods=["GET"]),
]


def render(doc: Schema) -> str:
    """The whole reference page: overview, servers, webhook headers, then one section per
    channel in document (catalog) order."""
    info = doc["info"]
    title = escape(info["title"])
    parts = [
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>',
        f"<style>{CSS}</style></head><body>",
        f'<h1 id="top">{title} <small>{escape(info["version"])}'
        f' &middot; AsyncAPI {escape(doc["asyncapi"])}</small></h1>',
        '<p>Machine-readable: <a href="/asyncapi.yaml">asyncapi.yaml</a>,'
        ' <a href="/asyncapi.json">asyncapi.json</a>.</p>',
        _prose(info["description"]),
        "<h2>Servers</h2>", _servers(doc),
        "<h2>Event types</h2>", _contents(doc),
        _webhooks(doc),
        *(_channel(doc, key, channel) for key, channel in doc["channels"].items()),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _resolve(doc: Schema, ref: str) -> Schema:
    node: Any = doc
    for token in ref.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    result: Schema = node
    return result


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _prose(text: str) -> str:
    """The description's markdown subset: paragraphs, "- " lists and `code`."""
    out = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        lead = " ".join(line for line in lines if not line.startswith("- "))
        items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines if line[:2] == "- ")
        out += [f"<p>{_inline(lead)}</p>"] if lead else []
        out += [f"<ul>{items}</ul>"] if items else []
    return "\n".join(out)


def _type(schema: Schema) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    kinds = schema.get("type", "any")
    text = " | ".join(kinds) if isinstance(kinds, list) else str(kinds)
    if "format" in schema:
        text += f" ({schema['format']})"
    if "pattern" in schema:
        text += f" matching {schema['pattern']}"
    return text


def _fields(schema: Schema) -> str:
    """A table of an object schema's properties, in declaration order."""
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(_type(prop))}</td>"
        f"<td>{'yes' if name in required else 'no'}</td>"
        f"<td>{_inline(prop.get('description', ''))}</td></tr>"
        for name, prop in schema.get("properties", {}).items()
    )
    return ("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>"
            f"{rows}</table>")


def _servers(doc: Schema) -> str:
    items = []
    for name, server in doc["servers"].items():
        host = server["host"]
        for var, spec in server.get("variables", {}).items():
            host = host.replace("{" + var + "}", spec["default"])
        items.append(f"<li><strong>{escape(name)}</strong> ({escape(server['protocol'])}):"
                     f" <code>{escape(host)}</code> &mdash; {_inline(server['description'])}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _contents(doc: Schema) -> str:
    items = "".join(
        f'<li><a href="#{escape(key)}"><code>{escape(channel["address"])}</code></a>'
        f" &mdash; {_inline(channel['description'])}</li>"
        for key, channel in doc["channels"].items()
    )
    return f"<ol>{items}</ol>"


def _webhooks(doc: Schema) -> str:
    parts = []
    for name, trait in doc["components"]["messageTraits"].items():
        headers = _resolve(doc, trait["bindings"]["http"]["headers"]["$ref"])
        parts += [f'<h2 id="{escape(name)}">Webhook delivery</h2>',
                  f"<p>{_inline(trait['description'])}</p>", _fields(headers)]
    return "\n".join(parts)


def _channel(doc: Schema, key: str, channel: Schema) -> str:
    pointer = "#/channels/" + key.replace("~", "~0").replace("/", "~1")
    op_id, operation = next(
        (op_id, op) for op_id, op in doc["operations"].items() if op["channel"]["$ref"] == pointer)
    message = _resolve(doc, next(iter(channel["messages"].values()))["$ref"])
    envelope = _resolve(doc, message["payload"]["$ref"])
    data = _resolve(doc, envelope["properties"]["data"]["$ref"])
    example = message["examples"][0]
    wire = "".join(f"{name}: {value}\n" for name, value in example["headers"].items())
    wire += "\n" + json.dumps(example["payload"], indent=2)
    return "\n".join([
        f'<section id="{escape(key)}">',
        f"<h2><code>{escape(channel['address'])}</code></h2>",
        f"<p>{_inline(channel['description'])}</p>",
        f"<p>Operation <code>{escape(op_id)}</code> (action <code>{escape(operation['action'])}"
        f"</code>): Edge Admin publishes <code>{escape(message['name'])}</code> messages as"
        f" <code>{escape(message['contentType'])}</code>.</p>",
        "<h3>NATS headers</h3>", _fields(_resolve(doc, message["headers"]["$ref"])),
        f"<h3>Envelope <code>{escape(envelope['title'])}</code></h3>", _fields(envelope),
        f"<h3><code>data</code>: <code>{escape(data['title'])}</code></h3>",
        f"<p>{_inline(data.get('description', ''))}</p>", _fields(data),
        "<h3>Example</h3>", f"<pre>{escape(wire)}</pre>",
        '<p><a href="#top">Back to the top</a></p>', "</section>",
    ])
