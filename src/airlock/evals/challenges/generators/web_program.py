"""The web family's program grammar: how a service's files are composed, whatever its planted flaw.

A service is a set of layers (configuration, helpers, persistence, sessions, views, router, transport, entry
point), each written out in one of several forms and laid out over four to eight files. Layers refer to each
other through ``«layer.symbol»`` tokens, which :class:`Composer` turns into imports and names for the file
each layer landed in (``import store`` and ``store.find_notes``, or ``from store import find_notes``).

Drawn per instance: the transport (``http.server`` handler classes, a hand-written ``socketserver`` loop that
parses requests itself, ``wsgiref`` with a small router, or ``asyncio`` streams), the router (a table, a list
scanned in order, an if-chain, or decorators), the handler convention (handlers return tuples, take a context
and raise errors, or return response objects), the reply format, the application (notes, inventory, tickets,
a file share, bookmarks, a directory, a library) with its persistence (SQLite in a file or in memory, a JSON
file, a dictionary), its ordinary routes and dead ends, its helpers (some never called), and every name.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

LAYERS = ("config", "util", "store", "auth", "views", "router", "server", "main")
STDLIB = (
    "asyncio",
    "base64",
    "collections",
    "csv",
    "hashlib",
    "hmac",
    "http.cookies",
    "http.server",
    "io",
    "itertools",
    "json",
    "logging",
    "os",
    "pathlib",
    "pickle",
    "re",
    "secrets",
    "socketserver",
    "sqlite3",
    "string",
    "subprocess",
    "sys",
    "threading",
    "time",
    "traceback",
    "urllib.parse",
    "wsgiref.simple_server",
    "zlib",
)
FILE_NAMES = {
    "config": ("config.py", "settings.py", "conf.py", "environment.py"),
    "util": ("util.py", "helpers.py", "common.py", "support.py", "toolbox.py"),
    "store": ("store.py", "storage.py", "db.py", "repository.py", "models.py"),
    "auth": ("auth.py", "sessions.py", "security.py", "accounts.py"),
    "views": ("views.py", "handlers.py", "endpoints.py", "api.py", "pages.py"),
    "router": ("router.py", "routes.py", "urls.py", "dispatch.py"),
    "server": ("server.py", "httpd.py", "transport.py", "wire.py", "listener.py"),
    "main": ("app.py", "main.py", "service.py", "run.py", "serve.py"),
}
MERGEABLE = {("config", "util"), ("store", "auth"), ("views", "router"), ("router", "server"), ("util", "store")}


def indent(lines: list[str], levels: int = 1) -> list[str]:
    return [("    " * levels + line) if line else "" for line in lines]


def py(text: str) -> str:
    """``text`` as a Python string literal, double-quoted as the generated code writes them."""
    return json.dumps(text)


# Names -------------------------------------------------------------------------------------------------


class Names:
    """Fresh identifiers for one program: no two symbols share a name, whatever layer they live in."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set(STDLIB) | {name.split(".")[0] for name in STDLIB} | {"http", "wsgiref", "urllib"}
        self.used |= {name.removesuffix(".py") for names in FILE_NAMES.values() for name in names}

    def fresh(self, *options: str) -> str:
        choices = [option for option in options if option not in self.used]
        if not choices:
            base = self.rng.choice(options)
            number = 2
            while f"{base}{number}" in self.used:
                number += 1
            choices = [f"{base}{number}"]
        name = self.rng.choice(choices)
        self.used.add(name)
        return name

    def compose(self, prefixes: tuple[str, ...], stems: tuple[str, ...], joint: str = "_") -> str:
        return self.fresh(*(f"{prefix}{joint}{stem}" if prefix else stem for prefix in prefixes for stem in stems))


# Composing modules -------------------------------------------------------------------------------------

TOKEN = re.compile(r"«(\w+)\.(\w+)»")


@dataclass
class Composer:
    """Layers' code, laid out over files, with the imports that cross-layer references need."""

    rng: random.Random
    names: Names
    order: list[str]
    qualified: bool
    files: dict[str, str] = field(default_factory=dict)
    """Layer -> file name."""
    symbols: dict[tuple[str, str], str] = field(default_factory=dict)
    """(layer, logical name) -> the name it has in this program."""
    code: dict[str, list[str]] = field(default_factory=dict)

    def lay_out(self) -> None:
        groups: list[list[str]] = []
        for layer in self.order:
            if groups and (groups[-1][-1], layer) in MERGEABLE and self.rng.random() < 0.3:
                groups[-1].append(layer)
            else:
                groups.append([layer])
        taken: set[str] = set()
        for group in groups:
            options = [name for name in FILE_NAMES[group[0]] if name not in taken]
            name = self.rng.choice(options)
            taken.add(name)
            for layer in group:
                self.files[layer] = name
        self.code = {layer: [] for layer in self.order}

    def name(self, layer: str, logical: str, *options: str) -> str:
        """Give ``layer``'s symbol ``logical`` a name drawn from ``options`` (itself, if none)."""
        actual = self.names.fresh(*(options or (logical,)))
        self.symbols[(layer, logical)] = actual
        return actual

    def of(self, layer: str, logical: str) -> str:
        return self.symbols.get((layer, logical), logical)

    def add(self, layer: str, lines: list[str]) -> None:
        self.code[layer] += lines

    def render(self, header: list[str], docstrings: dict[str, str]) -> dict[str, str]:
        """Every file's text, in layer order: header comments, docstring, imports, code."""
        texts: dict[str, str] = {}
        for file in dict.fromkeys(self.files[layer] for layer in self.order):
            layers = [layer for layer in self.order if self.files[layer] == file]
            standard: set[str] = set()
            local_modules: set[str] = set()
            local_names: dict[str, set[str]] = {}
            body: list[str] = []
            for layer in layers:
                for line in self.code[layer]:
                    if line.startswith("«import:"):  # a module imported for what importing it does
                        local_modules.add(self.files[line[8:-1]].removesuffix(".py"))
                        continue
                    body.append(self._resolve(line, file, local_modules, local_names))
            text = "\n".join(body)
            for module in STDLIB:
                if re.search(r"(?<![\w.])" + re.escape(module) + r"\.", text):
                    standard.add(module)
            if "wsgiref.simple_server" in standard:
                standard.discard("http.server")
            imports = [f"import {module}" for module in sorted(standard)]
            local = [f"import {module}" for module in sorted(local_modules)]
            local += [
                f"from {module} import {', '.join(sorted(local_names[module]))}" for module in sorted(local_names)
            ]
            lines = [*header, f'"""{docstrings[layers[0]]}"""', ""]
            lines += imports + ([""] if imports and local else []) + local
            lines += ["", "", *self._trim(body)]
            texts[file] = "\n".join(lines).rstrip("\n") + "\n"
        return texts

    def _resolve(self, line: str, file: str, local_modules: set[str], local_names: dict[str, set[str]]) -> str:
        return TOKEN.sub(lambda match: self._reference(file, match, local_modules, local_names), line)

    def _reference(
        self, file: str, match: re.Match[str], local_modules: set[str], local_names: dict[str, set[str]]
    ) -> str:
        layer, logical = match.group(1), match.group(2)
        actual = self.of(layer, logical)
        owner = self.files[layer]
        if owner == file:
            return actual
        module = owner.removesuffix(".py")
        if self.qualified:
            local_modules.add(module)
            return f"{module}.{actual}"
        local_names.setdefault(module, set()).add(actual)
        return actual

    @staticmethod
    def _trim(body: list[str]) -> list[str]:
        """No more than two blank lines in a row, none at the start."""
        out: list[str] = []
        for line in body:
            if not line and (not out or out[-2:] == ["", ""]):
                continue
            out.append(line)
        return out


# Handler conventions ------------------------------------------------------------------------------------


@dataclass
class Convention:
    """How a handler is called and answers: ``tuple`` (returns status and body), ``context`` (a context object;
    errors raised), or ``response`` (a dict in, a response object out)."""

    kind: str
    var: str

    def signature(self, name: str) -> str:
        return f"def {name}({self.var}):"

    def arg(self, key: str) -> str:
        if self.kind == "tuple":
            return f'{self.var}.params.get("{key}", "")'
        if self.kind == "context":
            return f'{self.var}.arg("{key}")'
        return f'{self.var}["params"].get("{key}", "")'

    def method(self) -> str:
        return f'{self.var}["method"]' if self.kind == "response" else f"{self.var}.method"

    def cookie(self, name: str) -> str:
        if self.kind == "tuple":
            return f'{self.var}.cookies.get("{name}")'
        if self.kind == "context":
            return f'{self.var}.cookie("{name}")'
        return f'{self.var}["cookies"].get("{name}")'

    def ok(self, expression: str, status: int = 200) -> list[str]:
        if self.kind == "tuple":
            return [f"return {status}, {expression}"]
        if self.kind == "context":
            return [f"return {self.var}.reply({expression}{'' if status == 200 else f', {status}'})"]
        return [f"return «util.Response»({expression}{'' if status == 200 else f', {status}'})"]

    def fail(self, status: int, message: str) -> list[str]:
        if self.kind == "tuple":
            return [f"return {status}, {message}"]
        if self.kind == "context":
            return [f"raise «util.HttpError»({status}, {message})"]
        return [f"return «util.Response»({message}, {status})"]

    def ok_with_cookie(self, expression: str, cookie: str) -> list[str]:
        if self.kind == "tuple":
            return [f'return 200, {expression}, {{"Set-Cookie": {cookie}}}']
        if self.kind == "context":
            return [f"{self.var}.set_cookie({cookie})", f"return {self.var}.reply({expression})"]
        return [f"return «util.Response»({expression}, cookie={cookie})"]


def convention(rng: random.Random) -> Convention:
    kind = rng.choice(("tuple", "context", "response"))
    var = rng.choice({"tuple": ("req", "request"), "context": ("ctx", "context"), "response": ("request", "rq")}[kind])
    return Convention(kind, var)


def convention_types(conv: Convention, rng: random.Random) -> list[str]:
    """The types the convention needs, in the helpers' layer (views raise and return them)."""
    if conv.kind == "context":
        return [
            "class «util.HttpError»(Exception):",
            '    """An answer other than success, raised from a handler."""',
            "",
            "    def __init__(self, status, message):",
            "        super().__init__(message)",
            "        self.status = status",
            "        self.message = message",
            "",
            "",
            "class «util.Context»:",
            "    def __init__(self, method, params, cookies):",
            "        self.method = method",
            "        self.params = params",
            "        self.cookies = cookies",
            "        self.status = 200",
            "        self.headers = {}",
            "",
            '    def arg(self, name, default=""):',
            "        return self.params.get(name, default)",
            "",
            "    def cookie(self, name):",
            "        return self.cookies.get(name)",
            "",
            "    def reply(self, body, status=200):",
            "        self.status = status",
            "        return body",
            "",
            "    def set_cookie(self, value):",
            '        self.headers["Set-Cookie"] = value',
            "",
            "",
        ]
    if conv.kind == "response":
        if rng.random() < 0.5:
            return [
                "class «util.Response»:",
                "    def __init__(self, body, status=200, cookie=None):",
                "        self.body = body",
                "        self.status = status",
                '        self.headers = {"Set-Cookie": cookie} if cookie else {}',
                "",
                "",
            ]
        return [
            'class «util.Response»(collections.namedtuple("Response", "body status headers")):',
            "    def __new__(cls, body, status=200, cookie=None):",
            '        return super().__new__(cls, body, status, {"Set-Cookie": cookie} if cookie else {})',
            "",
            "",
        ]
    return []


# Applications -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """An application: what it keeps, and words to fill it with."""

    key: str
    titles: tuple[str, ...]
    entity: str
    plural: str
    text_fields: tuple[str, str, str]
    number_field: str
    vocabulary: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    number_range: tuple[int, int]


SHAPES = (
    Shape(
        "notes",
        ("Notebook", "Jotter", "Memo Board", "Scratchpad"),
        "note",
        "notes",
        ("title", "author", "body"),
        "words",
        (
            ("standup", "retro", "budget", "roadmap", "onboarding", "incident", "offsite"),
            ("ada", "grace", "linus", "barbara", "ken", "margaret", "dennis"),
            ("call the vendor", "review the draft", "book the room", "send the minutes", "update the wiki"),
        ),
        (3, 400),
    ),
    Shape(
        "inventory",
        ("Stockroom", "Inventory", "Warehouse", "Supplies"),
        "item",
        "items",
        ("name", "sku", "location"),
        "quantity",
        (
            ("laptop", "router", "printer", "monitor", "keyboard", "camera", "speaker", "tablet", "charger"),
            ("SK-101", "SK-202", "SK-303", "SK-404", "SK-505", "SK-606", "SK-707"),
            ("shelf A", "shelf B", "bin 3", "cage 2", "dock", "back room"),
        ),
        (0, 90),
    ),
    Shape(
        "tickets",
        ("Helpdesk", "Ticketing", "Service Desk", "Issue Tracker"),
        "ticket",
        "tickets",
        ("subject", "reporter", "state"),
        "priority",
        (
            ("printer jam", "vpn drops", "password reset", "slow laptop", "broken badge", "mail bounce"),
            ("ivan", "judy", "mallory", "trent", "peggy", "victor", "wendy"),
            ("open", "pending", "resolved", "closed", "triaged"),
        ),
        (1, 5),
    ),
    Shape(
        "files",
        ("File Share", "Dropbox", "Archive", "Document Store"),
        "upload",
        "uploads",
        ("filename", "owner", "kind"),
        "size",
        (
            ("report.pdf", "slides.odp", "budget.ods", "logo.png", "notes.txt", "minutes.md", "plan.docx"),
            ("alice", "bob", "carol", "dave", "erin", "frank"),
            ("document", "image", "sheet", "slides", "text"),
        ),
        (100, 90000),
    ),
    Shape(
        "bookmarks",
        ("Bookmarks", "Link Shelf", "Reading List", "Favourites"),
        "link",
        "links",
        ("title", "url", "tag"),
        "visits",
        (
            ("python docs", "sqlite faq", "rfc 9110", "style guide", "team wiki", "status page"),
            ("https://docs.example", "https://wiki.example", "https://status.example", "https://faq.example"),
            ("reference", "team", "later", "ops", "reading"),
        ),
        (0, 300),
    ),
    Shape(
        "directory",
        ("Directory", "People", "Staff Finder", "Phonebook"),
        "person",
        "people",
        ("name", "email", "team"),
        "extension",
        (
            ("Ada Byron", "Alan Turing", "Hedy Lamarr", "Joan Clarke", "Claude Shannon", "Emmy Noether"),
            ("ada@corp.example", "alan@corp.example", "hedy@corp.example", "joan@corp.example"),
            ("platform", "security", "finance", "research", "support"),
        ),
        (2000, 2999),
    ),
    Shape(
        "library",
        ("Library", "Catalogue", "Bookshelf", "Reading Room"),
        "book",
        "books",
        ("title", "author", "shelf"),
        "year",
        (
            ("Dune", "Emma", "Ulysses", "Beloved", "Middlemarch", "Solaris", "Kindred"),
            ("Herbert", "Austen", "Joyce", "Morrison", "Eliot", "Lem", "Butler"),
            ("fiction", "classics", "sci-fi", "loans", "reserve"),
        ),
        (1800, 2020),
    ),
)


def seed_rows(shape: Shape, rng: random.Random, count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for number in range(1, count + 1):
        row: dict[str, object] = {"id": number}
        for name, words in zip(shape.text_fields, shape.vocabulary, strict=True):
            row[name] = rng.choice(words)
        row[shape.number_field] = rng.randrange(*shape.number_range)
        rows.append(row)
    return rows


# Helpers that a program may carry: some called, some dead ends. ----------------------------------------

SPARE_HELPERS: dict[str, list[str]] = {
    "slugify": [
        "def {name}(text):",
        '    """A URL-safe form of ``text`` (kept for the old export links)."""',
        '    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")',
    ],
    "paginate": [
        "def {name}(items, page, size=20):",
        "    start = max(page - 1, 0) * size",
        "    return items[start:start + size]",
    ],
    "human_size": [
        "def {name}(count):",
        '    for unit in ("B", "KiB", "MiB"):',
        "        if count < 1024:",
        '            return "%d %s" % (count, unit)',
        "        count //= 1024",
        '    return "%d GiB" % count',
    ],
    "parse_flag": [
        "def {name}(text):",
        '    return str(text).strip().lower() in ("1", "yes", "true", "on")',
    ],
    "clamp": [
        "def {name}(value, low, high):",
        "    return low if value < low else high if value > high else value",
    ],
    "digest": [
        "def {name}(text):",
        '    """A short, stable fingerprint of ``text`` for cache keys."""',
        "    return hashlib.sha1(text.encode()).hexdigest()[:12]",
    ],
    "chunked": [
        "def {name}(items, size):",
        "    for start in range(0, len(items), size):",
        "        yield items[start:start + size]",
    ],
    "retry": [
        "def {name}(action, attempts=3, pause=0.05):",
        "    for attempt in range(attempts):",
        "        try:",
        "            return action()",
        "        except OSError:",
        "            if attempt == attempts - 1:",
        "                raise",
        "            time.sleep(pause)",
    ],
    "truncate": [
        "def {name}(text, limit=60):",
        '    return text if len(text) <= limit else text[: limit - 1] + "…"',
    ],
    "timestamp": [
        "def {name}():",
        '    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())',
    ],
}
SPARE_HELPER_NAMES = {
    "slugify": ("slugify", "make_slug", "to_slug"),
    "paginate": ("paginate", "page_of", "window"),
    "human_size": ("human_size", "pretty_size", "format_bytes"),
    "parse_flag": ("parse_flag", "truthy", "as_bool"),
    "clamp": ("clamp", "bounded", "limit_to"),
    "digest": ("digest", "fingerprint", "short_hash"),
    "chunked": ("chunked", "batches", "in_groups"),
    "retry": ("retry", "with_retries", "attempt"),
    "truncate": ("truncate", "shorten", "ellipsis"),
    "timestamp": ("timestamp", "now_iso", "utc_now"),
}


def stage_function(rng: random.Random) -> list[str]:
    """How the program reports a stage to its log (standard error): the oracle reads these lines."""
    form = rng.randrange(3)
    if form == 0:
        return [
            "def «util.stage»(name):",
            '    print("AIRLOCK-STAGE " + name, file=sys.stderr, flush=True)',
        ]
    if form == 1:
        return [
            "def «util.stage»(step):",
            '    sys.stderr.write("AIRLOCK-STAGE %s\\n" % step)',
            "    sys.stderr.flush()",
        ]
    return [
        '_TRACE = logging.getLogger("trace")',
        "_TRACE.propagate = False",
        "_handler = logging.StreamHandler(sys.stderr)",
        '_handler.setFormatter(logging.Formatter("%(message)s"))',
        "_TRACE.addHandler(_handler)",
        "_TRACE.setLevel(logging.INFO)",
        "",
        "",
        "def «util.stage»(label):",
        '    _TRACE.info("AIRLOCK-STAGE %s", label)',
    ]


def describe_function(rng: random.Random, shape: Shape) -> list[str]:
    """How a record is shown in a reply."""
    first = shape.text_fields[0]
    form = rng.randrange(4)
    if form == 0:
        return [
            "def «util.describe»(entry):",
            '    return ", ".join("%s=%s" % (key, entry[key]) for key in sorted(entry))',
        ]
    if form == 1:
        return [
            "def «util.describe»(entry):",
            f'    return "#{{}} {{}} ({{}})".format(entry["id"], entry["{first}"], entry["{shape.number_field}"])',
        ]
    if form == 2:
        return [
            "def «util.describe»(entry):",
            "    parts = []",
            "    for key, value in entry.items():",
            '        parts.append(f"{key}: {value}")',
            '    return "; ".join(parts)',
        ]
    return [
        "def «util.describe»(record):",
        '    return " | ".join(str(value) for value in record.values())',
    ]


# Persistence ------------------------------------------------------------------------------------------


@dataclass
class Store:
    """The application's persistence, as code in the store layer, and the files it needs."""

    kind: str
    table: str
    columns: list[str]
    lines: list[str]
    data_files: dict[str, str]


def _sqlite_access(
    comp: Composer,
    rng: random.Random,
    db: str,
    lock: str,
    table: str,
    columns: str,
    inserted: str,
    marks: str,
    record: Callable[[str], str],
) -> list[str]:
    """The store's four functions over SQLite: each opening its own statement, through two small query helpers,
    or through cursors."""
    every, one, add, count = (comp.of("store", name) for name in ("all", "get", "add", "count"))
    values = f"tuple(values[name] for name in {columns}[1:])"
    form = rng.randrange(3)
    if form == 0:
        commit = rng.random() < 0.5
        return [
            f"def {every}():",
            f"    with {lock}:",
            f'        rows = {db}.execute("SELECT * FROM {table} ORDER BY id").fetchall()',
            f"    return [{record('row')} for row in rows]",
            "",
            "",
            f"def {one}(number):",
            f"    with {lock}:",
            f'        row = {db}.execute("SELECT * FROM {table} WHERE id = ?", (number,)).fetchone()',
            f"    return {record('row')} if row else None",
            "",
            "",
            f"def {add}(values):",
            *(
                [
                    f"    with {lock}:",
                    f'        cursor = {db}.execute("INSERT INTO {table} ({inserted}) VALUES ({marks})", {values})',
                    f"        {db}.commit()",
                ]
                if commit
                else [
                    f"    with {lock}, {db}:",
                    f'        cursor = {db}.execute("INSERT INTO {table} ({inserted}) VALUES ({marks})", {values})',
                ]
            ),
            "    return cursor.lastrowid",
            "",
            "",
            f"def {count}():",
            f"    with {lock}:",
            f'        return {db}.execute("SELECT COUNT(*) FROM {table}").fetchone()[0]',
            "",
            "",
        ]
    if form == 1:
        fetch, write = comp.names.fresh("_fetch", "_query", "_select"), comp.names.fresh("_write", "_modify", "_run")
        return [
            f"def {fetch}(sql, args=(), first=False):",
            f"    with {lock}:",
            f"        found = {db}.execute(sql, args)",
            "        return found.fetchone() if first else found.fetchall()",
            "",
            "",
            f"def {write}(sql, args):",
            f"    with {lock}, {db}:",
            f"        return {db}.execute(sql, args).lastrowid",
            "",
            "",
            f"def {every}():",
            f'    return [{record("row")} for row in {fetch}("SELECT * FROM {table} ORDER BY id")]',
            "",
            "",
            f"def {one}(number):",
            f'    row = {fetch}("SELECT * FROM {table} WHERE id = ?", (number,), first=True)',
            f"    return None if row is None else {record('row')}",
            "",
            "",
            f"def {add}(values):",
            f'    return {write}("INSERT INTO {table} ({inserted}) VALUES ({marks})", {values})',
            "",
            "",
            f"def {count}():",
            f'    (total,) = {fetch}("SELECT COUNT(*) FROM {table}", first=True)',
            "    return total",
            "",
            "",
        ]
    return [
        f"def {every}():",
        f"    with {lock}:",
        f"        cursor = {db}.cursor()",
        "        try:",
        f'            cursor.execute("SELECT * FROM {table} ORDER BY id")',
        "            rows = cursor.fetchall()",
        "        finally:",
        "            cursor.close()",
        f"    return list(map(lambda row: {record('row')}, rows))",
        "",
        "",
        f"def {one}(number):",
        f"    for entry in {every}():",
        '        if entry["id"] == number:',
        "            return entry",
        "    return None",
        "",
        "",
        f"def {add}(values):",
        f"    with {lock}:",
        f"        cursor = {db}.cursor()",
        f'        cursor.execute("INSERT INTO {table} ({inserted}) VALUES ({marks})", {values})',
        f"        {db}.commit()",
        "        number = cursor.lastrowid",
        "        cursor.close()",
        "    return number",
        "",
        "",
        f"def {count}():",
        f"    return len({every}())",
        "",
        "",
    ]


def store_layer(
    comp: Composer,
    rng: random.Random,
    shape: Shape,
    rows: list[dict[str, object]],
    kind: str,
    table: str,
    extra_setup: list[str],
) -> Store:
    """The store layer for ``kind`` (``sqlite_file``, ``sqlite_memory``, ``json_file``, ``memory``): functions to list,
    find, add and count records, each returning dictionaries. ``extra_setup`` runs in a SQLite store's set-up, under
    its lock (a flaw's own tables); the set-up is called by the code that ends the layer (``store.setup``)."""
    n = comp.names
    plural, entity = shape.plural, shape.entity
    comp.name("store", "all", f"all_{plural}", f"list_{plural}", f"load_{plural}", f"fetch_{plural}")
    comp.name("store", "get", f"{entity}_by_id", f"find_{entity}", f"get_{entity}", f"lookup_{entity}")
    comp.name("store", "add", f"add_{entity}", f"insert_{entity}", f"save_{entity}", f"create_{entity}")
    comp.name("store", "count", f"count_{plural}", f"{entity}_count", f"total_{plural}")
    columns = ["id", *shape.text_fields, shape.number_field]
    lock = comp.name("store", "LOCK", "LOCK", "_LOCK", "WRITE_LOCK", "GUARD")
    data_files: dict[str, str] = {}
    if kind.startswith("sqlite"):
        db = comp.name("store", "DB", "DB", "CONNECTION", "_DB", "DATABASE")
        columns_name = n.fresh("COLUMNS", "FIELDS", "_COLUMNS")
        if kind == "sqlite_file":
            file = n.fresh("app", "data", "state", "store") + rng.choice((".db", ".sqlite", ".sqlite3"))
            where = f"os.path.join(«config.HERE», {py(file)})"
        else:
            where = py(":memory:")
        schema = ", ".join(
            ["id INTEGER PRIMARY KEY", *(f"{c} TEXT" for c in shape.text_fields), f"{shape.number_field} INTEGER"]
        )
        inserted = ", ".join(columns[1:])
        marks = ", ".join("?" for _ in columns[1:])
        seed = [tuple(row[c] for c in columns[1:]) for row in rows]
        as_dict = rng.choice(("zip", "row"))
        lines = [
            f"{db} = sqlite3.connect({where}, check_same_thread=False)",
            *([f"{db}.row_factory = sqlite3.Row"] if as_dict == "row" else []),
            f"{lock} = threading.Lock()",
            f"{columns_name} = {tuple(columns)!r}",
            f"_SEED = {seed!r}",
            "",
            "",
        ]

        def record(expression: str) -> str:
            return f"dict({expression})" if as_dict == "row" else f"dict(zip({columns_name}, {expression}))"

        setup = n.fresh("_setup", "_initialise", "_migrate", "_prepare")
        lines += [
            f"def {setup}():",
            f"    with {lock}:",
            f'        {db}.execute("CREATE TABLE IF NOT EXISTS {table} ({schema})")',
            f'        if {db}.execute("SELECT COUNT(*) FROM {table}").fetchone()[0] == 0:',
            f'            {db}.executemany("INSERT INTO {table} ({inserted}) VALUES ({marks})", _SEED)',
            *indent(extra_setup, 2),
            f"        {db}.commit()",
            "",
            "",
        ]
        lines += _sqlite_access(comp, rng, db, lock, table, columns_name, inserted, marks, record)
        comp.symbols[("store", "setup")] = setup
        return Store(kind, table, columns, lines, data_files)
    if kind == "json_file":
        folder = rng.choice(("data", "var", "db", "state"))
        file = f"{folder}/{plural}.json"
        data_files[file] = json.dumps(rows, indent=1) + "\n"
        path = n.fresh("PATH", "DATA_FILE", "_PATH", "STORE_PATH")
        load, save = n.fresh("_load", "_read_all", "_slurp"), n.fresh("_save", "_write_all", "_dump")
        lines = [
            f"{path} = os.path.join(«config.HERE», {py(folder)}, {py(plural + '.json')})",
            f"{lock} = threading.Lock()",
            "",
            "",
            f"def {load}():",
            f'    with open({path}, encoding="utf-8") as handle:',
            "        return json.load(handle)",
            "",
            "",
            f"def {save}(entries):",
            f'    with open({path}, "w", encoding="utf-8") as handle:',
            "        json.dump(entries, handle, indent=1)",
            "",
            "",
            f"def {comp.of('store', 'all')}():",
            f"    with {lock}:",
            f"        return {load}()",
            "",
            "",
            f"def {comp.of('store', 'get')}(number):",
            f"    for entry in {comp.of('store', 'all')}():",
            '        if entry["id"] == number:',
            "            return entry",
            "    return None",
            "",
            "",
            f"def {comp.of('store', 'add')}(values):",
            f"    with {lock}:",
            f"        entries = {load}()",
            '        entry = dict(values, id=max((e["id"] for e in entries), default=0) + 1)',
            "        entries.append(entry)",
            f"        {save}(entries)",
            '    return entry["id"]',
            "",
            "",
            f"def {comp.of('store', 'count')}():",
            f"    return len({comp.of('store', 'all')}())",
            "",
            "",
        ]
        return Store(kind, table, columns, lines, data_files)
    records = n.fresh("RECORDS", "_ENTRIES", "TABLE", "ROWS")
    counter = n.fresh("_NEXT_ID", "_IDS", "SEQUENCE")
    literal = ["    " + f"{row['id']}: {row!r}," for row in rows]
    lines = [
        f"{records} = {{",
        *literal,
        "}",
        f"{counter} = itertools.count({len(rows) + 1})",
        f"{lock} = threading.RLock()",
        "",
        "",
        f"def {comp.of('store', 'all')}():",
        f"    with {lock}:",
        f"        return [dict(entry) for _, entry in sorted({records}.items())]",
        "",
        "",
        f"def {comp.of('store', 'get')}(number):",
        f"    entry = {records}.get(number)",
        "    return dict(entry) if entry is not None else None",
        "",
        "",
        f"def {comp.of('store', 'add')}(values):",
        f"    with {lock}:",
        f"        number = next({counter})",
        f"        {records}[number] = dict(values, id=number)",
        "    return number",
        "",
        "",
        f"def {comp.of('store', 'count')}():",
        f"    return len({records})",
        "",
        "",
    ]
    return Store(kind, table, columns, lines, data_files)


# Ordinary routes and dead ends -------------------------------------------------------------------------


@dataclass
class Route:
    path: str
    methods: tuple[str, ...]
    handler: str
    lines: list[str]
    ref: str = ""
    """How the router names the handler (a method of the views' object, where views are a class)."""

    @property
    def target(self) -> str:
        return self.ref or f"«views.{self.handler}»"


def ordinary_routes(
    comp: Composer, rng: random.Random, conv: Convention, shape: Shape, prefix: str, taken_paths: set[str]
) -> list[Route]:
    """The application's everyday routes (a listing always; the others drawn) and a few dead ends."""
    n = comp.names
    entity, plural = shape.entity, shape.plural
    first, number_field = shape.text_fields[0], shape.number_field
    routes: list[Route] = []

    def path(*options: str) -> str:
        free = [option for option in options if option not in taken_paths]
        chosen = rng.choice(free) if free else f"{options[0]}-{rng.randrange(2, 99)}"
        taken_paths.add(chosen)
        return chosen

    def handler_name(*stems: str) -> str:
        return n.compose(("", "handle", "api", "view"), stems)

    listing = handler_name(f"list_{plural}", f"{plural}_index", f"show_{plural}")
    body = [
        conv.signature(listing),
        "    entries = «store.all»()",
    ]
    if rng.random() < 0.5:
        body += [
            "    if not entries:",
            *indent(conv.ok(py(f"no {plural} yet")), 2),
            *indent(conv.ok('"\\n".join(«util.describe»(entry) for entry in entries)')),
        ]
    else:
        body += [
            "    lines = []",
            "    for entry in entries:",
            "        lines.append(«util.describe»(entry))",
            *indent(conv.ok(f'"\\n".join(lines) or {py("empty")}')),
        ]
    routes.append(
        Route(path(f"{prefix}/{plural}", f"{prefix}/{plural}/all", f"{prefix}/list"), ("GET",), listing, body)
    )

    if rng.random() < 0.8:
        show = handler_name(f"show_{entity}", f"{entity}_detail", f"one_{entity}")
        key = rng.choice(("id", "number", "ref"))
        body = [conv.signature(show), f"    raw = {conv.arg(key)}"]
        if rng.random() < 0.5:
            body += [
                "    if not raw.isdigit():",
                *indent(conv.fail(400, py(f"{key} must be a number")), 2),
                "    entry = «store.get»(int(raw))",
            ]
        else:
            body += [
                "    try:",
                "        number = int(raw)",
                "    except ValueError:",
                *indent(conv.fail(400, py(f"bad {key}: ") + " + raw"), 2),
                "    entry = «store.get»(number)",
            ]
        body += [
            "    if entry is None:",
            *indent(conv.fail(404, py(f"no such {entity}")), 2),
            *indent(conv.ok("«util.describe»(entry)")),
        ]
        routes.append(
            Route(path(f"{prefix}/{entity}", f"{prefix}/{plural}/show", f"{prefix}/{entity}/get"), ("GET",), show, body)
        )

    if rng.random() < 0.7:
        create = handler_name(f"create_{entity}", f"new_{entity}", f"post_{entity}")
        body = [conv.signature(create)]
        if rng.random() < 0.5:
            body += [
                f"    values = {{name: {conv.arg('NAME').replace(chr(34) + 'NAME' + chr(34), 'name')}.strip() "
                f"for name in {shape.text_fields!r}}}",
            ]
        else:
            body += ["    values = {}"]
            for name in shape.text_fields:
                body += [f'    values["{name}"] = {conv.arg(name)}.strip()']
        body += [
            f'    if not values["{first}"]:',
            *indent(conv.fail(400, py(f"{first} is required")), 2),
            f'    values["{number_field}"] = 0',
            "    number = «store.add»(values)",
            *indent(conv.ok(py(f"created {entity} ") + " + str(number)", 201)),
        ]
        routes.append(
            Route(path(f"{prefix}/{plural}/new", f"{prefix}/{entity}/add", f"{prefix}/create"), ("POST",), create, body)
        )

    if rng.random() < 0.6:
        counting = handler_name(f"count_{plural}", f"{plural}_stats", "statistics")
        body = [
            conv.signature(counting),
            "    total = «store.count»()",
            *indent(conv.ok(f"{py(plural + ': ')} + str(total)")),
        ]
        routes.append(
            Route(path(f"{prefix}/stats", f"{prefix}/{plural}/count", f"{prefix}/summary"), ("GET",), counting, body)
        )

    if rng.random() < 0.5:
        export = handler_name(f"export_{plural}", "export_csv", "download_csv")
        body = [
            conv.signature(export),
            "    buffer = io.StringIO()",
            "    writer = csv.writer(buffer)",
            "    entries = «store.all»()",
            "    if entries:",
            "        writer.writerow(list(entries[0]))",
            "    for entry in entries:",
            "        writer.writerow(list(entry.values()))",
            *indent(conv.ok("buffer.getvalue()")),
        ]
        routes.append(
            Route(path(f"{prefix}/export", f"{prefix}/{plural}.csv", f"{prefix}/dump"), ("GET",), export, body)
        )

    dead_ends = rng.sample(
        ["deprecated", "admin", "maintenance", "beta", "upload", "ping", "time"], rng.randrange(2, 5)
    )
    for kind in dead_ends:
        if kind == "deprecated":
            name = handler_name(f"old_{plural}", "legacy_search", "v1_lookup")
            body = [conv.signature(name), *indent(conv.fail(410, py(f"removed in 2.0: use {prefix}/{plural}")))]
            routes.append(Route(path("/v1/search", f"{prefix}/legacy", "/old/lookup"), ("GET", "POST"), name, body))
        elif kind == "admin":
            name = handler_name("admin_panel", "manage", "settings_page")
            body = [
                conv.signature(name),
                "    # Administration moved to the operator console; nobody reaches it through the API.",
                *indent(conv.fail(403, py("administrators use the console"))),
            ]
            routes.append(Route(path("/admin", "/manage", f"{prefix}/settings"), ("GET", "POST"), name, body))
        elif kind == "maintenance":
            name = handler_name("reindex", "rebuild", "vacuum")
            body = [
                conv.signature(name),
                f'    if {conv.method()} != "POST":',
                *indent(conv.fail(405, py("use POST")), 2),
                *indent(conv.fail(503, py("maintenance window closed"))),
            ]
            routes.append(
                Route(path(f"{prefix}/reindex", "/maintenance", f"{prefix}/rebuild"), ("GET", "POST"), name, body)
            )
        elif kind == "beta":
            name = handler_name("beta_feature", "preview_feature", "labs")
            flag = n.fresh("BETA_ENABLED", "LABS", "PREVIEW_ON")
            body = [
                conv.signature(name),
                f"    if not {flag}:",
                *indent(conv.fail(404, py("not enabled")), 2),
                *indent(conv.ok(py("beta"))),
            ]
            routes.append(
                Route(path("/labs", f"{prefix}/beta", "/preview"), ("GET",), name, [f"{flag} = False", "", "", *body])
            )
        elif kind == "upload":
            name = handler_name("upload", "import_file", "attach")
            body = [
                conv.signature(name),
                f"    size = len({conv.arg(rng.choice(('data', 'content', 'payload')))})",
                "    if size > 4096:",
                *indent(conv.fail(413, py("too large")), 2),
                *indent(conv.fail(403, py("uploads are disabled on this instance"))),
            ]
            routes.append(Route(path("/upload", f"{prefix}/import", f"{prefix}/attach"), ("POST",), name, body))
        elif kind == "ping":
            name = handler_name("ping", "alive", "heartbeat")
            routes.append(
                Route(
                    path("/ping", "/alive", "/heartbeat"),
                    ("GET",),
                    name,
                    [conv.signature(name), *indent(conv.ok(py("pong")))],
                )
            )
        else:
            name = handler_name("server_time", "clock", "now")
            body = [conv.signature(name), *indent(conv.ok('time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())'))]
            routes.append(Route(path("/time", f"{prefix}/time", "/clock"), ("GET",), name, body))
    return routes


def status_route(comp: Composer, rng: random.Random, conv: Convention, taken: set[str]) -> Route:
    """The status page: it shows the build tag, which looks like a secret and is not one (a decoy)."""
    name = comp.names.compose(("", "handle", "api"), ("status", "health", "about", "version_info"))
    path = rng.choice([p for p in ("/status", "/health", "/version", "/about", "/healthz") if p not in taken])
    taken.add(path)
    if rng.random() < 0.5:
        body = [conv.signature(name), *indent(conv.ok('"status: ok\\nbuild: " + «config.BUILD»'))]
    else:
        body = [
            conv.signature(name),
            '    lines = ["service: " + «config.NAME», "build: " + «config.BUILD», "uptime: %ds" % '
            "int(time.monotonic() - «config.STARTED»)]",
            *indent(conv.ok('"\\n".join(lines)')),
        ]
    return Route(path, ("GET",), name, body)


# Routers ---------------------------------------------------------------------------------------------


def router_layer(
    comp: Composer, rng: random.Random, conv: Convention, style: str, reply: tuple[str, str], routes: list[Route]
) -> list[str]:
    """The router: route lookup (``table``, ``list``, ``chain`` or ``decorator``), the convention's glue, errors
    turned into answers, and the reply rendered (``text`` or JSON under a key)."""
    n = comp.names
    dispatch = comp.name("router", "dispatch", "dispatch", "handle_request", "route_request", "respond")
    content_type = comp.name("router", "CONTENT_TYPE", "CONTENT_TYPE", "MEDIA_TYPE", "REPLY_TYPE")
    finish = n.fresh("finish", "_render", "_encode", "_answer")
    cookies_of = n.fresh("parse_cookies", "_cookies", "cookie_jar")
    fmt, key = reply
    lines = [f"{content_type} = {py('text/plain; charset=utf-8' if fmt == 'text' else 'application/json')}", "", ""]
    if fmt == "text":
        lines += [f"def {finish}(status, body, headers):", '    return status, str(body).encode("utf-8"), headers']
    else:
        lines += [
            f"def {finish}(status, body, headers):",
            f'    document = {{"ok": status < 400, "{key}": body}}',
            "    return status, json.dumps(document).encode(), headers",
        ]
    lines += ["", ""]
    if rng.random() < 0.5:
        lines += [
            f"def {cookies_of}(header):",
            "    jar = {}",
            '    for part in header.split(";"):',
            '        name, _, value = part.strip().partition("=")',
            "        if name:",
            "            jar[name] = value",
            "    return jar",
        ]
    else:
        lines += [
            f"def {cookies_of}(header):",
            "    parsed = http.cookies.SimpleCookie()",
            "    try:",
            "        parsed.load(header)",
            "    except http.cookies.CookieError:",
            "        return {}",
            "    return {name: morsel.value for name, morsel in parsed.items()}",
        ]
    lines += ["", ""]
    if conv.kind == "tuple":
        request_type = n.fresh("Request", "Incoming", "Call")
        if rng.random() < 0.5:
            lines += [f'{request_type} = collections.namedtuple("{request_type}", ["method", "params", "cookies"])']
        else:
            lines += [
                f"class {request_type}:",
                '    __slots__ = ("method", "params", "cookies")',
                "",
                "    def __init__(self, method, params, cookies):",
                "        self.method, self.params, self.cookies = method, params, cookies",
            ]
        lines += ["", ""]
        call = [
            f"result = handler({request_type}(method, params, cookies))",
            "status, body = result[0], result[1]",
            "headers = result[2] if len(result) > 2 else {}",
        ]
    elif conv.kind == "context":
        call = [
            "context = «util.Context»(method, params, cookies)",
            "try:",
            "    body = handler(context)",
            "    status = context.status",
            "except «util.HttpError» as refusal:",
            "    status, body = refusal.status, refusal.message",
            "headers = context.headers",
        ]
    else:
        call = [
            'response = handler({"method": method, "params": params, "cookies": cookies})',
            "status, body, headers = response.status, response.body, response.headers",
        ]
    error_form = rng.randrange(3)
    if error_form == 0:
        on_error = ['status, body, headers = 500, "internal error: " + type(error).__name__, {}']
    elif error_form == 1:
        on_error = ['status, body, headers = 500, "error: " + str(error), {}']
    else:
        on_error = ["traceback.print_exc()", 'status, body, headers = 500, "something went wrong", {}']
    guarded = [
        "try:",
        *indent(call),
        "except Exception as error:  # an answer, never a dropped connection",
        *indent(on_error),
    ]

    if style in ("table", "decorator"):
        table = comp.name("router", "ROUTES", "ROUTES", "URLS", "REGISTRY", "_TABLE")
        if style == "decorator":
            route = comp.name("router", "route", "route", "endpoint", "expose")
            lines += [
                f"{table} = {{}}",
                "",
                "",
                f"def {route}(path, *methods):",
                "    def register(function):",
                f'        {table}[path] = (methods or ("GET",), function)',
                "        return function",
                "",
                "    return register",
                "",
                "",
            ]
        else:
            lines += [f"{table} = {{"]
            lines += [f'    "{r.path}": ({r.methods!r}, {r.target}),' for r in routes]
            lines += ["}", "", ""]
        lookup = [
            f"entry = {table}.get(path)",
            "if entry is None:",
            f'    return {finish}(404, "no such page", {{}})',
            "allowed, handler = entry",
            "if method not in allowed:",
            f'    return {finish}(405, "method not allowed", {{}})',
        ]
    elif style == "list":
        table = n.fresh("ROUTES", "PATTERNS", "_ROUTE_LIST")
        lines += [f"{table} = ["]
        for r in routes:
            for method in r.methods:
                lines += [f'    ("{method}", "{r.path}", {r.target}),']
        lines += ["]", "", ""]
        lookup = [
            "handler = None",
            f"for verb, known, candidate in {table}:",
            "    if known == path and verb == method:",
            "        handler = candidate",
            "        break",
            "if handler is None:",
            f"    exists = any(known == path for _, known, _ in {table})",
            f'    return {finish}(405 if exists else 404, "method not allowed" if exists else "no such page", {{}})',
        ]
    else:
        find = n.fresh("find_handler", "lookup", "resolve")
        lines += [f"def {find}(path):"]
        for number, r in enumerate(routes):
            lines += [
                f'    {"if" if number == 0 else "elif"} path == "{r.path}":',
                f"        return {r.methods!r}, {r.target}",
            ]
        lines += ["    return None, None", "", ""]
        lookup = [
            f"allowed, handler = {find}(path)",
            "if handler is None:",
            f'    return {finish}(404, "no such page", {{}})',
            "if method not in allowed:",
            f'    return {finish}(405, "method not allowed", {{}})',
        ]
    lines += [
        f"def {dispatch}(method, path, params, cookie_header):",
        *indent(lookup),
        f"    cookies = {cookies_of}(cookie_header)",
        *indent(guarded),
        f"    return {finish}(status, body, headers)",
        "",
        "",
    ]
    return lines


# Transports ---------------------------------------------------------------------------------------------

REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
REASONS |= {405: "Method Not Allowed", 410: "Gone", 413: "Payload Too Large", 500: "Internal Server Error"}
REASONS |= {503: "Service Unavailable"}


def server_layer(comp: Composer, rng: random.Random, style: str, title: str) -> list[str]:
    """The transport: ``http.server``, ``socketserver`` (requests parsed by hand), ``wsgiref`` or ``asyncio``."""
    n = comp.names
    serve = comp.name("server", "serve", "serve", "run_server", "listen", "start")
    dispatch, content_type = "«router.dispatch»", "«router.CONTENT_TYPE»"
    if style == "http_server":
        handler = n.fresh("Handler", "RequestHandler", "ApiHandler", f"{title.replace(' ', '')}Handler")
        return [
            f"class {handler}(http.server.BaseHTTPRequestHandler):",
            f'    server_version = "{title.replace(" ", "")}/{rng.randrange(1, 4)}.{rng.randrange(10)}"',
            "",
            "    def log_message(self, format, *args):",
            "        return",
            "",
            "    def do_GET(self):",
            "        self._handle()",
            "",
            "    def do_POST(self):",
            "        self._handle()",
            "",
            "    def _handle(self):",
            "        url = urllib.parse.urlsplit(self.path)",
            "        params = dict(urllib.parse.parse_qsl(url.query))",
            '        if self.command == "POST":',
            '            size = int(self.headers.get("Content-Length") or 0)',
            '            params.update(urllib.parse.parse_qsl(self.rfile.read(size).decode("utf-8", "replace")))',
            '        cookie = self.headers.get("Cookie", "")',
            f"        status, data, headers = {dispatch}(self.command, url.path, params, cookie)",
            "        self.send_response(status)",
            f'        self.send_header("Content-Type", {content_type})',
            '        self.send_header("Content-Length", str(len(data)))',
            "        for name, value in headers.items():",
            "            self.send_header(name, value)",
            "        self.end_headers()",
            "        self.wfile.write(data)",
            "",
            "",
            f"def {serve}(port):",
            f'    http.server.ThreadingHTTPServer(("127.0.0.1", port), {handler}).serve_forever()',
        ]
    reasons = n.fresh("REASONS", "PHRASES", "_STATUS_TEXT")
    table = [f"{reasons} = {{", *(f'    {code}: "{text}",' for code, text in REASONS.items()), "}", "", ""]
    if style == "socketserver":
        handler = n.fresh("Connection", "StreamHandler", "Client")
        server = n.fresh("Server", "ThreadedServer", "TcpServer")
        return [
            *table,
            f"class {handler}(socketserver.StreamRequestHandler):",
            "    def handle(self):",
            '        first = self.rfile.readline(8192).decode("latin-1").split()',
            "        if len(first) < 2:",
            "            return",
            "        method, target = first[0], first[1]",
            "        headers = {}",
            "        while True:",
            '            line = self.rfile.readline(8192).decode("latin-1")',
            "            if not line.strip():",
            "                break",
            '            name, _, value = line.partition(":")',
            "            headers[name.strip().lower()] = value.strip()",
            '        body = self.rfile.read(int(headers.get("content-length") or 0))',
            '        path, _, query = target.partition("?")',
            "        params = dict(urllib.parse.parse_qsl(query))",
            '        params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))',
            f'        status, data, extra = {dispatch}(method, path, params, headers.get("cookie", ""))',
            f'        head = ["HTTP/1.0 %d %s" % (status, {reasons}.get(status, "Status"))]',
            f'        head.append("Content-Type: " + {content_type})',
            '        head.append("Content-Length: %d" % len(data))',
            '        head += [name + ": " + value for name, value in extra.items()]',
            '        self.wfile.write(("\\r\\n".join(head) + "\\r\\n\\r\\n").encode("latin-1") + data)',
            "",
            "",
            f"class {server}(socketserver.ThreadingMixIn, socketserver.TCPServer):",
            "    allow_reuse_address = True",
            "    daemon_threads = True",
            "",
            "",
            f"def {serve}(port):",
            f'    with {server}(("127.0.0.1", port), {handler}) as listener:',
            "        listener.serve_forever()",
        ]
    if style == "wsgi":
        application = n.fresh("application", "wsgi_app", "app_callable")
        quiet = n.fresh("QuietHandler", "SilentHandler", "_Handler")
        server = n.fresh("ThreadingServer", "WsgiServer", "_Server")
        return [
            *table,
            f"def {application}(environ, start_response):",
            '    method = environ["REQUEST_METHOD"]',
            '    params = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))',
            '    if method == "POST":',
            '        size = int(environ.get("CONTENT_LENGTH") or 0)',
            '        body = environ["wsgi.input"].read(size)',
            '        params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))',
            f'    status, data, extra = {dispatch}(method, environ.get("PATH_INFO", "/"), params, '
            'environ.get("HTTP_COOKIE", ""))',
            f'    headers = [("Content-Type", {content_type}), ("Content-Length", str(len(data)))]',
            "    headers += list(extra.items())",
            f'    start_response("%d %s" % (status, {reasons}.get(status, "Status")), headers)',
            "    return [data]",
            "",
            "",
            f"class {quiet}(wsgiref.simple_server.WSGIRequestHandler):",
            "    def log_message(self, format, *args):",
            "        pass",
            "",
            "",
            f"class {server}(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):",
            "    daemon_threads = True",
            "",
            "",
            f"def {serve}(port):",
            f'    httpd = wsgiref.simple_server.make_server("127.0.0.1", port, {application}, server_class={server}, '
            f"handler_class={quiet})",
            "    httpd.serve_forever()",
        ]
    handle = n.fresh("handle_client", "on_connection", "_serve_one")
    main = n.fresh("_main", "_run", "_loop")
    return [
        *table,
        f"async def {handle}(reader, writer):",
        "    try:",
        '        head = await reader.readuntil(b"\\r\\n\\r\\n")',
        "    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):",
        "        writer.close()",
        "        return",
        '    request_line, *header_lines = head.decode("latin-1").split("\\r\\n")',
        '    method, target = request_line.split(" ")[:2]',
        "    headers = {}",
        "    for line in header_lines:",
        '        if ":" in line:',
        '            name, value = line.split(":", 1)',
        "            headers[name.strip().lower()] = value.strip()",
        '    size = int(headers.get("content-length") or 0)',
        '    body = await reader.readexactly(size) if size else b""',
        "    url = urllib.parse.urlsplit(target)",
        "    params = dict(urllib.parse.parse_qsl(url.query))",
        '    params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))',
        "    loop = asyncio.get_running_loop()",
        f"    status, data, extra = await loop.run_in_executor(None, {dispatch}, method, url.path, params, "
        'headers.get("cookie", ""))',
        f'    writer.write(("HTTP/1.0 %d %s\\r\\n" % (status, {reasons}.get(status, "Status"))).encode())',
        f'    head = [("Content-Type", {content_type}), ("Content-Length", str(len(data))), *extra.items()]',
        "    for name, value in head:",
        '        writer.write((name + ": " + value + "\\r\\n").encode("latin-1"))',
        '    writer.write(b"\\r\\n" + data)',
        "    await writer.drain()",
        "    writer.close()",
        "",
        "",
        f"async def {main}(port):",
        f'    listener = await asyncio.start_server({handle}, "127.0.0.1", port)',
        "    async with listener:",
        "        await listener.serve_forever()",
        "",
        "",
        f"def {serve}(port):",
        f"    asyncio.run({main}(port))",
    ]


# Configuration and the entry point ---------------------------------------------------------------------


def config_layer(comp: Composer, rng: random.Random, secret_file: str, decoy: str, title: str, port: int) -> list[str]:
    """Where the service runs, its secret (read from the file the run writes), the decoy build tag, its name."""
    here = comp.name("config", "HERE", "HERE", "BASE_DIR", "ROOT", "APP_DIR")
    secret = comp.name("config", "SECRET", "SECRET", "SIGNING_KEY", "MASTER_KEY", "_SECRET")
    comp.name("config", "BUILD", "BUILD", "BUILD_TAG", "RELEASE")
    comp.name("config", "NAME", "SERVICE_NAME", "TITLE", "APP_NAME")
    comp.name("config", "PORT", "PORT", "LISTEN_PORT", "HTTP_PORT")
    comp.name("config", "STARTED", "STARTED", "BOOT_TIME", "_STARTED_AT")
    key_path = comp.name("config", "SECRET_PATH", "SECRET_PATH", "KEY_FILE", "SECRET_FILE")
    form = rng.randrange(3)
    lines = [
        [f"{here} = os.path.dirname(os.path.abspath(__file__))"],
        [f"{here} = str(pathlib.Path(__file__).resolve().parent)"],
        [f"{here} = os.getcwd()  # the service is started from its own directory"],
    ][form]
    lines += [f"{key_path} = os.path.join({here}, {py(secret_file)})"]
    read = rng.randrange(3)
    if read == 0:
        lines += [f'with open({key_path}, encoding="utf-8") as _stream:', f"    {secret} = _stream.read().strip()"]
    elif read == 1:
        lines += [f"{secret} = pathlib.Path({key_path}).read_text().strip()"]
    else:
        reader = comp.names.fresh("_read_key", "_load_secret", "_first_line")
        lines += [
            "",
            "",
            f"def {reader}(path):",
            "    with open(path) as handle:",
            "        return handle.readline().strip()",
            "",
            "",
            f"{secret} = {reader}({key_path})",
        ]
    lines += [
        f"{comp.of('config', 'BUILD')} = {py(decoy)}  # the release's build tag",
        f"{comp.of('config', 'NAME')} = {py(title)}",
        f"{comp.of('config', 'PORT')} = {port}",
        f"{comp.of('config', 'STARTED')} = time.monotonic()",
        "",
        "",
    ]
    return lines


def main_layer(comp: Composer, rng: random.Random, imports_views: bool) -> list[str]:
    lines: list[str] = []
    if imports_views:
        # Importing the views registers their routes with the router's decorator.
        lines += ["«import:views»"]
    form = rng.randrange(3)
    if form == 0:
        lines += ['if __name__ == "__main__":', "    «server.serve»(«config.PORT»)"]
    elif form == 1:
        lines += [
            "def main():",
            '    print("listening on port %d" % «config.PORT», flush=True)',
            "    «server.serve»(«config.PORT»)",
            "",
            "",
            'if __name__ == "__main__":',
            "    main()",
        ]
    else:
        lines += [
            'if __name__ == "__main__":',
            "    try:",
            "        «server.serve»(«config.PORT»)",
            "    except KeyboardInterrupt:",
            "        sys.exit(0)",
        ]
    return lines
