"""A results file as a Markdown table (printed) and a PNG chart of throughput and p99 per
endpoint (saved next to the JSON).

    python bench/report.py [bench/results/<date>-<host>.json]   # default: today's file
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import results_path


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "met" if value else "**missed**"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def markdown(data: dict[str, Any]) -> str:
    parts: dict[str, Any] = data.get("parts", {})
    m = data.get("machine", {})
    out = [
        f"Machine: {m.get('host')}, {m.get('nproc')} CPUs ({m.get('cpu')}), "
        f"{m.get('memory_gib')} GiB, Python {m.get('python')}",
        "",
        "| part | figure | value | goal |",
        "| --- | --- | --- | --- |",
    ]
    if intake := parts.get("intake"):
        out += [
            f"| intake | raw COPY of {intake['rows']:,} rows | {intake['raw_copy_seconds']} s, "
            f"{intake['raw_copy_rows_per_second']:,} rows/s | |",
            f"| intake | push end to end | {intake['push_seconds']} s, "
            f"{intake['push_rows_per_second']:,} rows/s | |",
            f"| intake | push / raw COPY | **{intake['push_vs_raw_copy']}** | ≥ 0.30: "
            f"{_n(intake['push_vs_raw_copy'] >= 0.30)} |",
        ]
    if memory := parts.get("intake_memory"):
        counts = memory.get("counts", {})
        out += [
            f"| intake | {memory['rows']:,}-row push | {memory['push_seconds']} s, peak RSS "
            f"**{memory['peak_rss_mib']} MiB** | < 1 GiB: {_n(memory['peak_rss_mib'] < 1024)} |",
            f"| intake | a query every 50 ms during it | p50 {counts.get('probe_p50_ms')} ms, "
            f"p99 {counts.get('probe_p99_ms')} ms, max {counts.get('probe_max_ms')} ms | |",
        ]
    if aging := parts.get("aging"):
        ratio = aging["age_accounts_speed_vs_hand_written"]
        out += [
            f"| aging | {aging['accounts']:,} accounts | {aging['age_accounts_seconds']} s vs "
            f"hand-written {aging['hand_written_update_seconds']} s | |",
            f"| aging | hand-written / aging | **{ratio}** | ≥ 0.70: {_n(ratio >= 0.70)} |",
        ]
    if check := parts.get("contact_check"):
        out.append(
            f"| contact check | one client in process ({check['requests']:,}) | p50 "
            f"{check['p50_ms']} ms, p99 {check['p99_ms']} ms | reported |"
        )
    if work := parts.get("work"):
        data, queue, claim = work["data"], work["worklist"], work["next"]
        check = work["claims_check"]
        out += [
            f"| work | scale | {data['generated_accounts']:,} accounts, "
            f"{data['interactions']:,} interactions, {data['collectors']:,} collectors | "
            "1,000,000 / 5,000,000 |",
            f"| work | `GET /worklists/me?limit=20`, one collector ({queue['requests']}) | p50 "
            f"{queue['p50_ms']} ms, p99 {queue['p99_ms']} ms | reported |",
            f"| work | `POST /worklists/me/next`, {claim['sessions']} collectors | "
            f"{claim['claims_per_second']} claims/s, p50 {claim['p50_ms']} ms, "
            f"p99 {claim['p99_ms']} ms | reported |",
            f"| work | double claims | **{check['double_claims']}** | 0: "
            f"{_n(check['double_claims'] == 0)} |",
        ]
        for name, report_ in work["reports"].items():
            out.append(
                f"| work | report `{report_['path']}` ({name}) | {report_['seconds']} s | "
                "reported |"
            )
        if slow := work.get("slowest_report"):
            top = slow["hotspots"][0] if slow["hotspots"] else {}
            out.append(
                f"| work | slowest report ({slow['report']}): hottest plan node | "
                f"{top.get('node')} {top.get('relation') or ''} {top.get('index') or ''}, "
                f"{top.get('exclusive_ms')} ms of {slow['execution_ms']} ms | |"
            )
    if api := parts.get("api"):
        goals = api.get("goals", {})
        read = api["endpoints"]["get_account"]
        write = api["endpoints"]["interaction"]
        out += [
            f"| api | GET /accounts/{{id}} / bare | **{read['ratio_to_bare']}** | ≥ 0.10: "
            f"{_n(goals.get('get_account_ratio_ge_0.10'))} |",
            f"| api | GET /accounts/{{id}} p99 / p50 | **{read['p99_over_p50']}** | ≤ 5: "
            f"{_n(goals.get('get_account_p99_le_5x_p50'))} |",
            f"| api | POST interactions / bare | **{write['ratio_to_bare']}** | ≥ 0.05: "
            f"{_n(goals.get('interaction_ratio_ge_0.05'))} |",
            f"| api | statements per list page, limit 10 / 50 / 100 | "
            f"{api['queries_per_request']['list_limit_10']} / "
            f"{api['queries_per_request']['list']} / "
            f"{api['queries_per_request']['list_limit_100']} | the same: "
            f"{_n(api['list_queries_independent_of_limit'])} |",
        ]
    if workers := parts.get("workers"):
        out.append(
            f"| workers | GET /accounts/{{id}}, 2 workers / 1 | "
            f"**{workers['get_account_scaling_2_over_1']}** (bare app: "
            f"{workers['hello_scaling_2_over_1']}) | scales with cores |"
        )
    if api:
        out += [
            "",
            f"API at {api['endpoints']['hello']['connections']} connections ({api.get('load')}; "
            f"uvicorn {api.get('uvicorn')}):",
            "",
            "| endpoint | req/s | p50 ms | p99 ms | p99/p50 | vs bare | SQL/request | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for e in api["endpoints"].values():
            out.append(
                f"| `{e['endpoint']}` | {_n(e['rps'], 0)} | {e['p50_ms']} | {e['p99_ms']} | "
                f"{e['p99_over_p50']} | {e['ratio_to_bare']} | "
                f"{_n(e.get('queries_per_request'))} | {e['errors']} |"
            )
    if workers:
        out += [
            "",
            "| workers | bare req/s | `GET /accounts/{id}` req/s | p50 ms | p99 ms | errors |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for count, run in workers["by_workers"].items():
            read = run["get_account"]
            out.append(
                f"| {count} | {_n(run['hello']['rps'], 0)} | {_n(read['rps'], 0)} | "
                f"{read['p50_ms']} | {read['p99_ms']} | {read['errors']} |"
            )
    return "\n".join(out)


SHORT = {
    "hello": "bare ASGI\nGET /",
    "get_account": "GET\n/accounts/{id}",
    "list": "GET\n/accounts?limit=50",
    "contact_check": "POST\ncontact-check",
    "interaction": "POST\ninteractions",
}


def chart(data: dict[str, Any], path: Path) -> Path | None:
    parts = data.get("parts", {})
    if "api" not in parts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    endpoints = parts["api"]["endpoints"]
    labels = [SHORT.get(name, name) for name in endpoints]
    rps = [e["rps"] for e in endpoints.values()]
    p99 = [e["p99_ms"] for e in endpoints.values()]
    p50 = [e["p50_ms"] for e in endpoints.values()]
    workers = parts.get("workers")
    columns = 3 if workers else 2
    figure, axes = plt.subplots(1, columns, figsize=(6 * columns, 5.5))
    axes[0].bar(labels, rps, color="#3b6ea5")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("requests per second (log)")
    axes[0].set_title("Throughput, 64 connections")
    for x, value in enumerate(rps):
        axes[0].annotate(f"{value:,.0f}", (x, value), ha="center", va="bottom", fontsize=8)
    xs = range(len(labels))
    axes[1].bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#8fb3d9")
    axes[1].bar([x + 0.2 for x in xs], p99, width=0.4, label="p99", color="#c0504d")
    axes[1].set_xticks(list(xs), labels)
    axes[1].set_ylabel("latency, ms")
    axes[1].set_title("Latency, 64 connections")
    axes[1].legend()
    if workers:
        counts = list(workers["by_workers"])
        reads = [workers["by_workers"][c]["get_account"]["rps"] for c in counts]
        axes[2].bar([f"{c} worker(s)" for c in counts], reads, color="#6a9f58")
        axes[2].set_ylabel("requests per second")
        axes[2].set_title("GET /accounts/{id} by uvicorn workers")
    for axis in axes[:2]:
        axis.tick_params(axis="x", labelsize=7)
    machine = data.get("machine", {})
    figure.suptitle(
        f"Cartera API — {machine.get('host')}, {machine.get('nproc')} CPUs ({machine.get('cpu')})"
    )
    figure.tight_layout()
    target = path.with_suffix(".png")
    figure.savefig(target, dpi=110)
    plt.close(figure)
    return target


def report(path: Path) -> None:
    if not path.exists():
        print(f"no results at {path}")
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    print()
    print(markdown(data))
    print()
    print(f"results: {path}")
    picture = chart(data, path)
    if picture is not None:
        print(f"chart:   {picture}")


if __name__ == "__main__":
    report(Path(sys.argv[1]) if len(sys.argv) > 1 else results_path())
