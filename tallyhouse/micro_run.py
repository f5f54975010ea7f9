"""What a run must rebuild: only the part of the dbt graph downstream of the feeds that
delivered since the last complete build.

The last complete build recorded the newest file it read (``raw._build_state.last_file_id``).
The files loaded after it name their feeds; a feed is a dbt source table of the same name.
Everything downstream of those sources (models, seeds, snapshots, and the tests on them) is
built; everything else is exactly what the last build made of unchanged inputs and is left
alone. The loader's bookkeeping (``raw._manifest``, ``raw._quarantine``) changes with every
file, so what reads it is always built.

Only an incremental build is narrowed: a full pass, a repair (interrupted build, raw edited
under the marts, a relation missing) and a changed project rebuild every model.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from tallyhouse import db

# the loader's bookkeeping: every file changes it
ALWAYS = ("_manifest", "_quarantine")
SKIPPABLE = ("model", "snapshot", "seed")
# how dbt must pick the tests of a narrowed build for the build to be what select() says
INDIRECT_SELECTION = "cautious"


@dataclass(frozen=True)
class Selection:
    feeds: tuple[str, ...]  # the feeds that delivered since the last complete build
    build: frozenset[str] = field(default_factory=frozenset)  # unique ids to (re)build
    skip: frozenset[str] = field(default_factory=frozenset)  # unique ids left as they are
    skip_names: tuple[str, ...] = ()  # --exclude arguments for ``skip``

    @property
    def everything(self) -> bool:
        return not self.skip

    def describe(self) -> str:
        feeds = ", ".join(self.feeds) or "none (the loader's bookkeeping only)"
        return (f"{len(self.build)} of {len(self.build) + len(self.skip)} models, seeds and "
                f"tests downstream of the feeds that delivered: {feeds}")


def feeds_since_last_build(url: str) -> tuple[str, ...] | None:
    """The feeds of the files recorded after the last complete build; None when there is
    no complete build to start from."""
    with db.cursor(url) as cur:
        cur.execute("select to_regclass('raw._build_state') is not null "
                    "and to_regclass('raw._manifest') is not null")
        if not cur.fetchone()[0]:
            return None
        cur.execute("select last_file_id, in_progress from raw._build_state")
        row = cur.fetchone()
        if row is None or row[1] or row[0] is None or int(row[0]) < 0:
            return None
        cur.execute("select distinct feed from raw._manifest where file_id > %s "
                    "and feed is not null order by feed", (int(row[0]),))
        return tuple(name for (name,) in cur.fetchall())


def _short_name(node: dict) -> str:
    """How ``--exclude`` names one node: its fully qualified name (unique in the project)."""
    return "fqn:" + ".".join(node["fqn"])


def select(manifest: dict | Path, feeds: tuple[str, ...]) -> Selection:
    """The nodes downstream of the sources fed by ``feeds`` (and of the bookkeeping).

    Models, snapshots and seeds not downstream are skipped (a seed is downstream of
    nothing: it changes only with the project, and a changed project is a full build);
    everything skipped is upstream-closed, so it can be reported unchanged before dbt
    starts. A test runs when anything it
    reads is built now — dbt's ``cautious`` indirect selection (``INDIRECT_SELECTION``),
    which leaves out with an excluded model only the tests that read nothing else — so a
    test across families (a raw-to-staging survival check, a relationship between two
    marts) runs whenever one side changed; a test of raw tables runs only when one of its
    tables was delivered into."""
    if isinstance(manifest, Path):
        manifest = json.loads(manifest.read_text())
    nodes = manifest["nodes"]
    children = manifest.get("child_map", {})
    wanted = set(feeds) | set(ALWAYS)
    sources = manifest.get("sources", {})
    fed = {uid for uid, source in sources.items() if source["name"] in wanted}
    reached: set[str] = set()
    queue = deque(fed)
    while queue:
        for child in children.get(queue.popleft(), ()):
            if child not in reached:
                reached.add(child)
                queue.append(child)
    skip: set[str] = {uid for uid, node in nodes.items()
                      if node["resource_type"] in SKIPPABLE and uid not in reached}
    build: set[str] = {uid for uid, node in nodes.items()
                       if node["resource_type"] in SKIPPABLE and uid in reached}
    for uid, node in nodes.items():
        if node["resource_type"] != "test":
            continue
        parents = node.get("depends_on", {}).get("nodes", [])
        if parents and all(p in skip for p in parents):
            skip.add(uid)  # nothing it reads changed: its last result stands
        elif parents and all(p in sources for p in parents) and not fed & set(parents):
            skip.add(uid)  # a test of raw tables nothing was delivered into
        else:
            build.add(uid)  # something it reads is built now (run with cautious selection)
    # --exclude: the skipped nodes (the tests reading only them go with them) and the
    # raw-table tests
    names = tuple(sorted(_short_name(nodes[uid]) for uid in skip
                         if nodes[uid]["resource_type"] != "test"
                         or all(p in sources for p in nodes[uid]["depends_on"]["nodes"])))
    return Selection(tuple(feeds), frozenset(build), frozenset(skip), names)
