"""``tallyhouse bench``: how fast the job is, stage by stage, next to a bare baseline.

Stages measured in one run on one machine:

* generate: N transactions of extracts (records / s);
* load: the real loader job through Dagster on an empty database (records / s);
* baseline: a bare ``psql \\copy`` of the same files into unlogged tables, one text
  column per JSON line and the CSV columns as they are — the floor any loader is
  measured against. The headline figure is load time / baseline time.

Figures are printed as a table and written as JSON (``--json``).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tallyhouse import db
from tallyhouse.sources import FEEDS

BASELINE_SCHEMA = "bench_baseline"


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def bench_database(url: str) -> str:
    """A separate database on the same server, recreated empty: never the user's data."""
    parts = db.connection_parts(url)
    name = f"{parts.dbname}_bench"
    with db.cursor(url, autocommit=True) as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
        cur.execute(f'create database "{name}"')
    return db.replace_dbname(url, name)


def baseline_copy(url: str, landing: Path) -> tuple[float, int]:
    """Bare COPY of every landing file with psql, in one psql session."""
    lines = [f"create schema {BASELINE_SCHEMA};"]
    for feed in FEEDS:
        table = f"{BASELINE_SCHEMA}.{feed.name}"
        if feed.fmt == "jsonl":
            lines.append(f"create unlogged table {table} (line text);")
        else:
            cols = ", ".join(f"{c} text" for c in feed.columns)
            lines.append(f"create unlogged table {table} ({cols});")
    for feed in FEEDS:
        table = f"{BASELINE_SCHEMA}.{feed.name}"
        for path in sorted((landing / feed.source).glob(f"{feed.name}_*")):
            quoted = str(path).replace("'", "''")
            if feed.fmt == "jsonl":
                # Each line taken literally: a quote and a delimiter that never occur.
                lines.append(f"\\copy {table} (line) from '{quoted}' with (format csv, "
                             "quote e'\\x01', delimiter e'\\x02')")
            else:
                lines.append(f"\\copy {table} from '{quoted}' with (format csv, header true)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    started = time.monotonic()
    subprocess.run([db.psql_executable(), url, "-q", "-v", "ON_ERROR_STOP=1", "-f",
                    script.name], check=True, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    Path(script.name).unlink()
    with db.cursor(url) as cur:
        total = 0
        for feed in FEEDS:
            cur.execute(f"select count(*) from {BASELINE_SCHEMA}.{feed.name}")
            total += cur.fetchone()[0]
        cur.execute(f"drop schema {BASELINE_SCHEMA} cascade")
    return seconds, total


def run_bench(transactions: int, seed: int = 1, workdir: Path | None = None,
              keep: bool = False, say=print) -> dict:
    from tallyhouse.cli import run_job
    from tallyhouse.generator import GenerateConfig, generate

    url = bench_database(db.database_url())
    root = Path(workdir or tempfile.mkdtemp(prefix="tallyhouse-bench-"))
    landing = root / f"landing-{transactions}"
    if landing.exists():
        shutil.rmtree(landing)
    figures: dict = {"transactions": transactions, "seed": seed}

    say(f"[1/3] generating {transactions:,} transactions into {landing}")
    summary = generate(GenerateConfig(out=landing, transactions=transactions, seed=seed))
    figures["generate"] = {
        "seconds": round(summary["seconds"], 2),
        "records": summary["records"],
        "files": summary["files"],
        "bytes": sum(p.stat().st_size for p in landing.rglob("*") if p.is_file()),
        "transactions_per_second": round(transactions / summary["seconds"]),
        "records_per_second": round(summary["records"] / summary["seconds"]),
    }

    say("[2/3] the whole job through Dagster on an empty database (load, dbt build)")
    started = time.monotonic()
    result = run_job(landing, url)
    job_seconds = time.monotonic() - started
    if not result.success:
        raise RuntimeError("the job failed during the benchmark")
    steps = result.step_seconds
    load_seconds = sum(v for k, v in steps.items() if k.startswith("load_"))
    dbt_seconds = steps.get("dbt_models", 0.0)
    with db.cursor(url) as cur:
        cur.execute("select coalesce(sum(records_in_file), 0), coalesce(sum(records_landed), 0)"
                    " from raw._manifest")
        records, landed = (int(v) for v in cur.fetchone())
    figures["load"] = {
        "seconds": round(load_seconds, 2), "records": int(records), "landed": int(landed),
        "records_per_second": round(records / load_seconds),
    }
    with db.cursor(url) as cur:
        cur.execute("select count(*) from marts.fct_transactions")
        transactions_built = cur.fetchone()[0]
        cur.execute("select table_name from information_schema.tables "
                    "where table_schema = 'marts' order by 1")
        marts = [name for (name,) in cur.fetchall()]
        mart_rows = {}
        for name in marts:
            cur.execute(f'select count(*) from marts."{name}"')
            mart_rows[name] = cur.fetchone()[0]
    figures["dbt_build"] = {"seconds": round(dbt_seconds, 2),
                            "transactions": transactions_built,
                            "transactions_per_second": round(transactions_built / dbt_seconds)
                            if dbt_seconds else None,
                            "mart_rows": mart_rows}
    figures["job"] = {"seconds": round(job_seconds, 2), "steps": steps}

    say("[3/3] baseline: bare psql \\copy of the same files into unlogged tables")
    base_seconds, base_rows = baseline_copy(url, landing)
    figures["baseline_copy"] = {"seconds": round(base_seconds, 2), "rows": base_rows,
                                "rows_per_second": round(base_rows / base_seconds)}
    figures["load_over_baseline"] = round(load_seconds / base_seconds, 2)
    figures["job_over_baseline"] = round(job_seconds / base_seconds, 2)
    figures["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    if not keep:
        shutil.rmtree(landing, ignore_errors=True)
    return figures


def print_table(figures: dict, say=print) -> None:
    g, load, base = figures["generate"], figures["load"], figures["baseline_copy"]
    say("")
    say(f"tallyhouse bench — {figures['transactions']:,} transactions")
    say(f"  {'stage':<22} {'seconds':>9} {'records':>12} {'records/s':>11}")
    say(f"  {'generate':<22} {g['seconds']:>9.1f} {g['records']:>12,} "
        f"{g['records_per_second']:>11,}")
    say(f"  {'load (loader assets)':<22} {load['seconds']:>9.1f} {load['records']:>12,} "
        f"{load['records_per_second']:>11,}")
    built = figures["dbt_build"]
    say(f"  {'dbt build':<22} {built['seconds']:>9.1f} {built['transactions']:>12,} "
        f"{built['transactions_per_second'] or 0:>11,}  (transactions)")
    say(f"  {'whole job':<22} {figures['job']['seconds']:>9.1f}")
    label = "baseline psql \\copy"
    say(f"  {label:<22} {base['seconds']:>9.1f} {base['rows']:>12,} "
        f"{base['rows_per_second']:>11,}")
    say(f"  load / baseline: {figures['load_over_baseline']}x   "
        f"job / baseline: {figures['job_over_baseline']}x   "
        f"extracts: {g['bytes'] / 2**20:,.0f} MiB in {g['files']:,} files   "
        f"peak RSS (python): {figures['peak_rss_mib']:,.0f} MiB")
    say("  mart rows: " + ", ".join(f"{k} {v:,}" for k, v in built["mart_rows"].items()))


def main_bench(args) -> int:
    figures = run_bench(args.transactions, seed=args.seed,
                        workdir=Path(args.workdir) if args.workdir else None, keep=args.keep)
    print_table(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"  figures written to {args.json}")
    return 0

