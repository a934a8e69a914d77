"""`wb.dossier` / `workbench dossier`: everything an auditor asks about a model version.

What trained it (run, data digests, code commit, notebook, seed, environment), who approved it,
when and why, every gate's inputs and result, and its place in the model's history.
"""

from __future__ import annotations

import html
import json
from typing import Any

from workbench.errors import ConfigError
from workbench.promotion import registry


def dossier(model: str, version: str | int) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    from workbench.tracking.store import tracking_client

    client = tracking_client()
    try:
        found = client.get_model_version(model, str(version))
    except MlflowException:
        raise ConfigError(f"{model} has no version {version}; see `workbench history "
                          f"{model}`") from None
    # the whole record (tags on the version are cut to MLflow's limit); {} when the version
    # was registered but never promoted through workbench
    record = registry.load_record(client, found.run_id, model, str(found.version)) \
        if found.run_id else {}
    run = client.get_run(found.run_id) if found.run_id else None
    champion = registry.champion_version(client, model)
    return {
        "model": model, "version": str(found.version), "champion": champion == str(found.version),
        "current_champion": champion, "source": found.source, "run_id": found.run_id,
        "created": found.creation_timestamp, "tags": dict(found.tags),
        "approval": {k: record.get(k) for k in ("approver", "reason", "at", "previous_version")}
        if record else None,
        "gates": record.get("gates", []), "evidence": record.get("evidence", {}),
        "code": code_of(dict(run.data.tags) if run else {}, record.get("evidence", {})),
        "params": dict(run.data.params) if run else {},
        "metrics": dict(run.data.metrics) if run else {},
        "history": [e for e in registry.read_history(client, model)
                    if str(e.get("version")) == str(found.version)
                    or str(e.get("previous")) == str(found.version)],
    }


def code_of(tags: dict[str, str], evidence: dict[str, Any]) -> dict[str, Any]:
    """The code behind the version, from its run's tags (else the approval record's copy):
    the project's commit, whether the code differed from it and where, the source file and
    its identity hash, the notebook or script that launched it."""

    def first(tag: str, key: str) -> Any:
        return tags.get(tag) or evidence.get(key) or None

    dirty = first("workbench.git.dirty", "git_dirty")
    return {"git_commit": first("mlflow.source.git.commit", "git_commit"),
            "git_dirty": None if dirty is None else str(dirty).lower() == "true",
            "git_dirty_files": first("workbench.git.dirty_files", "git_dirty_files"),
            "source": first("workbench.source", "source"),
            "source_sha256": first("workbench.source.sha256", "source_sha256"),
            "notebook": first("workbench.notebook", "notebook"),
            "notebook_sha256": first("workbench.notebook.sha256", "notebook_sha256"),
            "function": tags.get("workbench.function")}


CODE_LABELS = {"git_commit": "git commit", "git_dirty": "uncommitted changes",
               "git_dirty_files": "changed files", "source": "source file",
               "source_sha256": "source sha256 (notebooks: cells only)",
               "notebook": "launched from", "notebook_sha256": "launcher sha256 (file as saved)",
               "function": "function"}


def to_html(data: dict[str, Any]) -> str:
    """One self-contained page; every value escaped."""

    def esc(value: Any) -> str:
        return html.escape("" if value is None else str(value))

    def table(rows: dict[str, Any]) -> str:
        body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows.items())
        return f"<table>{body}</table>" if rows else "<p>none</p>"

    approval = data.get("approval") or {}
    gates = "".join(f"<tr><td>{'passed' if g.get('passed') else 'FAILED'}</td>"
                    f"<td>{esc(g.get('gate'))}</td><td>{esc(g.get('detail'))}</td>"
                    f"<td><code>{esc(json.dumps(g.get('inputs', {})))}</code></td></tr>"
                    for g in data.get("gates", []))
    evidence = dict(data.get("evidence") or {})
    datasets = evidence.pop("datasets", [])
    evidence.pop("metrics", None)
    history = "".join(f"<tr><td>{esc(e.get('seq'))}</td><td>{esc(e.get('at'))}</td>"
                      f"<td>{esc(e.get('action'))}</td>"
                      f"<td>{esc(e.get('approver') or e.get('requester'))}</td>"
                      f"<td>{esc(e.get('reason'))}</td></tr>" for e in data.get("history", []))
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{esc(data['model'])} v{esc(data['version'])}: dossier</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}th{{text-align:left;
padding-right:1em}}td,th{{border-bottom:1px solid #ddd;padding:4px}}table{{border-collapse:
collapse;width:100%}}code{{font-size:85%}}</style></head><body>
<h1>{esc(data['model'])} v{esc(data['version'])}</h1>
<p>{'Current champion.' if data['champion'] else
    f"Not the champion (champion: v{esc(data['current_champion'])})."}</p>
<h2>Approval</h2>{table(approval)}
<h2>Gates</h2><table>{gates or '<tr><td>none recorded</td></tr>'}</table>
<h2>Code</h2>{table({CODE_LABELS[k]: v for k, v in (data.get('code') or {}).items()
                     if v is not None})}
<h2>What trained it</h2>{table({**{k: v for k, v in evidence.items() if k not in CODE_LABELS},
                                'model': data.get('source')})}
<h2>Data</h2>{table({d.get('name'): f"digest {d.get('digest')} from {d.get('source')}"
                     for d in datasets})}
<h2>Parameters</h2>{table(data.get('params', {}))}
<h2>Metrics</h2>{table(data.get('metrics', {}))}
<h2>History of this version</h2><table>{history or '<tr><td>none</td></tr>'}</table>
</body></html>"""
