"""The MLflow model registry as promotion needs it: the one seam to it (champion alias, lock,
history, policy and version tags, registration, promotion records).

MLflow has no compare-and-set on aliases, so a promotion holds a lock: the lease
`<model>.promotion-lock` (workbench.tracking.leases: atomic claim, heartbeats on the store's
clock, take-over and release checked against the holder's token). The history lives in the
registered model's tags, one hash-chained entry per tag; its head (seq, hash) is copied to the
model and to the champion version, so deleting the newest entry, or every entry, is found.
Entry parts too large for a tag (MLflow's registry keeps 5000 characters on PostgreSQL) go to
an artifact of a ledger run; the entry keeps their sha256.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError, PromotionConflict, WorkbenchError
from workbench.promotion import ledger
from workbench.tracking import leases
from workbench.tracking.store import registry_writes

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION = "champion"
HISTORY_TAG = "workbench.history."
HEAD_TAG = "workbench.history-head"
LEDGER_RUN_TAG = "workbench.ledger.run"
LEDGER_EXPERIMENT = "workbench.ledger"
FOUR_EYES_TAG = "workbench.policy.four_eyes"
ROLLBACK_POLICY_TAG = "workbench.policy.rollback"  # "emergency": no second person for rollback
GATES_POLICY_TAG = "workbench.policy.gates"  # the gates every promotion of the model passes
GOVERNED_TAG = "workbench.governed"  # set by a governing tracking server: it alone writes
APPROVED_TAG = "workbench.approved_by"
LOCK_SUFFIX = ".promotion-lock"
LOCK_WAIT_S = 30.0
LOCK_STALE_S = 60.0  # no heartbeat for this long: a waiter takes the lock over
LOCK_HEARTBEAT_S = 2.0
LOCK_ALIVE_S = 3 * LOCK_HEARTBEAT_S  # a fresher heartbeat: `unlock` refuses, the holder lives
TAG_LIMIT = 5000  # MLflow's registry tag column on PostgreSQL
ENTRY_LIMIT = 4000  # what an entry keeps inline; the rest goes to artifacts


class RegistryError(WorkbenchError):
    """The registry refused an operation for a reason other than a conflict."""


def history_key() -> bytes | None:
    """WORKBENCH_HISTORY_KEY: entries carry an HMAC with it, so a rewrite needs the key."""
    value = os.environ.get("WORKBENCH_HISTORY_KEY", "")
    return value.encode() if value else None


def champion_version(client: MlflowClient, model: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model, CHAMPION).version)
    except MlflowException:
        return None


def set_champion(client: MlflowClient, model: str, version: str | None) -> None:
    writes = registry_writes(client)
    if version is None:
        writes.delete_registered_model_alias(model, CHAMPION)
    else:
        writes.set_registered_model_alias(model, CHAMPION, version)


def model_tags(client: MlflowClient, model: str) -> dict[str, str]:
    try:
        return dict(client.get_registered_model(model).tags)
    except Exception as exc:
        from mlflow.exceptions import MlflowException  # here: reads need no mlflow import

        if isinstance(exc, MlflowException):
            raise ConfigError(f"no registered model {model!r}; check the name") from None
        raise


def rollback_is_emergency(tags: Mapping[str, str]) -> bool:
    return tags.get(ROLLBACK_POLICY_TAG, "") == "emergency"


def ensure_registered(client: MlflowClient, model: str) -> dict[str, str]:
    """`model` registered (by us or a concurrent promotion); its tags."""
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_registered_model(model).tags)
    except MlflowException:
        try:
            return dict(client.create_registered_model(model).tags or {})
        except MlflowException as exc:
            if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise RegistryError(f"cannot register model {model!r}: "
                                    f"{_first_line(exc)}") from None
            return model_tags(client, model)


def model_names(client: MlflowClient) -> list[str]:
    """Registered models, without workbench's own (leases, markers, the store clock)."""
    found, token = [], None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found += [m.name for m in page if not leases.is_internal(m.tags)]
        token = page.token
        if not token:
            return sorted(found)


# --- the lock --------------------------------------------------------------------------------

@contextlib.contextmanager
def promotion_lock(client: MlflowClient, model: str, wait_s: float = LOCK_WAIT_S
                   ) -> Iterator[leases.Lease]:
    """Hold `model`'s promotion lock while the block runs (`still_held` before a move)."""
    from mlflow.exceptions import MlflowException

    stack = contextlib.ExitStack()
    try:
        lease = stack.enter_context(leases.acquire(
            client, model + LOCK_SUFFIX, kind="promotion-lock", wait_s=wait_s,
            stale_s=LOCK_STALE_S, heartbeat_s=LOCK_HEARTBEAT_S,
            meta={"workbench.lock.model": model}))
    except leases.LeaseBusy as exc:
        raise PromotionConflict(f"another promotion of {model} holds its lock ({exc}); try "
                                "again when it is done, or if that process died: workbench "
                                f"unlock {model} --approver WHO --reason WHY") from None
    except MlflowException as exc:
        raise RegistryError(f"cannot take the promotion lock of {model}: "
                            f"{_first_line(exc)}") from None
    with stack:
        yield lease


def still_held(lease: leases.Lease, model: str) -> None:
    """Checked against the store right before a move: a holder frozen past the stale limit
    (and taken over) must not move anything when it wakes."""
    if not lease.still_ours():
        raise PromotionConflict(f"the promotion lock of {model} was taken over while this "
                                "promotion held it (unlocked?); nothing was moved: try again")


def break_lock(client: MlflowClient, model: str) -> tuple[leases.Lease, leases.LeaseInfo]:
    """Take over the lock of a holder that stopped heart-beating (a crashed process)."""
    name = model + LOCK_SUFFIX
    info = leases.read(client, name)
    if info is None:
        raise ConfigError(f"{model} has no promotion lock; nothing to unlock")
    if info.age_s < LOCK_ALIVE_S:
        raise ConfigError(f"the promotion lock of {model} is held by {info.holder}, last "
                          f"heartbeat {info.age_s:.0f}s ago: that process is alive; wait for "
                          "it, or stop it and retry")
    lease = leases.take_over(client, name, stale_token=info.token,
                             meta={"workbench.lock.model": model})
    if lease is None:
        raise PromotionConflict(f"the promotion lock of {model} changed hands meanwhile; see "
                                "if it is still held, then retry")
    return lease, info


# --- the history -----------------------------------------------------------------------------

@dataclass
class Ledger:
    """What verification reads: entries (or why they cannot be read), head and anchors, and
    the versions that carry approval tags."""

    model: str
    entries: list[dict[str, Any]]
    broken: str | None
    head: ledger.Anchor | None
    anchors: list[ledger.Anchor]
    champion: str | None
    approved: list[str]


def read_history(client: MlflowClient, model: str,
                 tags: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The entries, oldest first, with their large parts read back; ConfigError when the
    stored history cannot be read as a chain."""
    tags = model_tags(client, model) if tags is None else tags
    try:
        stored = ledger.parse(tags, HISTORY_TAG)
    except ledger.Broken as exc:
        raise ConfigError(f"the history of {model} is {exc}; see `workbench history {model} "
                          "--verify`") from None
    return [expand_entry(client, e) for e in stored]


def read_ledger(client: MlflowClient, model: str, tags: Mapping[str, str] | None = None,
                entries: list[dict[str, Any]] | None = None) -> Ledger:
    from workbench.tracking.store import filter_literal

    tags = model_tags(client, model) if tags is None else tags
    broken = None
    if entries is None:
        try:
            entries = [expand_entry(client, e) for e in ledger.parse(tags, HISTORY_TAG)]
        except ledger.Broken as exc:
            entries, broken = [], str(exc)
    anchors, approved = [], []
    for version in client.search_model_versions(f"name = {filter_literal(model)}"):
        anchor = _anchor(version.tags.get(HEAD_TAG), f"v{version.version}")
        if anchor is not None:
            anchors.append(anchor)
        if version.tags.get(APPROVED_TAG):
            approved.append(str(version.version))
    return Ledger(model, entries, broken, _anchor(tags.get(HEAD_TAG), "the model"), anchors,
                  champion_version(client, model), approved)


def verify_ledger(state: Ledger, key: bytes | None, check_champion: bool = True
                  ) -> ledger.Check:
    if state.broken:
        return ledger.Check(False, state.broken)
    return ledger.verify(state.entries, head=state.head, anchors=state.anchors,
                         champion=state.champion, check_champion=check_champion, key=key,
                         model=state.model, approved=state.approved)


def pending_requests(model: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `requested` entries no approval or decline has answered yet."""
    decided = {e.get("request") for e in entries if e.get("request")}
    return [e for e in entries
            if e.get("action") == "requested" and f"{model}/{e['seq']}" not in decided]


def request_model(request_id: str) -> tuple[str, int]:
    model, _, seq = request_id.rpartition("/")
    if not model or not seq.isdigit():
        raise ConfigError(f"request {request_id!r} is not MODEL/N (as `promote` printed it)")
    return model, int(seq)


def pending_request(client: MlflowClient, request_id: str) -> tuple[str, dict[str, Any]]:
    """(model, the `requested` entry) of a request no one has decided yet; else ConfigError."""
    model, seq = request_model(request_id)
    entries = read_history(client, model)
    request = next((e for e in entries if e.get("seq") == seq
                    and e.get("action") == "requested"), None)
    if request is None:
        raise ConfigError(f"no pending promotion request {request_id}; see `workbench history "
                          f"{model}`")
    decided = next((e for e in entries if e.get("request") == request_id), None)
    if decided is not None:
        raise ConfigError(f"request {request_id} was already decided ({decided['action']} by "
                          f"{decided.get('approver')})")
    return model, request


@dataclass
class Tail:
    """The end of a history about to be appended to, checked against its head."""

    tags: dict[str, str]
    entries: list[dict[str, Any]]


def open_history(client: MlflowClient, model: str) -> Tail:
    """The history to append to (call with the lock held, before changing anything): refused
    when its stored chain does not end where its head says, since appending would hide that."""
    tags = model_tags(client, model)
    entries = read_history(client, model, tags)
    head = _anchor(tags.get(HEAD_TAG), "the model")
    ends = (entries[-1]["seq"], entries[-1]["hash"]) if entries else None
    legacy = head is None and not any(e.get("anchored") for e in entries)  # before heads
    if not legacy and ends != ((head.seq, head.hash) if head else None):
        raise ConfigError(f"the history of {model} does not end at its head (entries deleted "
                          f"or added outside workbench); nothing was moved: see `workbench "
                          f"history {model} --verify`")
    # the whole chain, keyed where there is a key: nothing acts on a forged entry
    check = verify_ledger(read_ledger(client, model, tags, entries), history_key(),
                          check_champion=False)
    if not check.ok:
        raise ConfigError(f"the history of {model} is {check.why}; nothing was moved: see "
                          f"`workbench history {model} --verify`")
    return Tail(tags, entries)


def append_history(client: MlflowClient, model: str, event: Mapping[str, Any],
                   champion: str | None = None, tail: Tail | None = None) -> dict[str, Any]:
    """Add an entry and move the head (call with the promotion lock held); `champion` is the
    version the alias points at once this entry stands (the head is copied onto it); `tail`
    as `open_history` read it under this lock."""
    tail = tail or open_history(client, model)
    entries, last = tail.entries, (tail.entries[-1] if tail.entries else None)
    event = {**event, "anchored": True}
    if event.get("action") in ledger.MOVES:
        left = ledger.champion_left(entries)
        if left != event.get("previous"):  # the alias moved outside workbench: say so
            event["outside_move"] = {"history_left": left, "found": event.get("previous")}
    kept, moved = ledger.split_large(event, ENTRY_LIMIT)
    texts: dict[str, str | None] = dict(moved)
    if moved:
        run_id = _ledger_run(client, model, tail.tags)
        kept["blobs"] = {name: {"sha256": ledger.digest(text),
                                "uri": _store_blob(client, run_id, text)}
                         for name, text in moved.items()}
    entry = ledger.next_entry(last and _stored(last), kept, history_key())
    value = json.dumps(entry, sort_keys=True, default=str)
    if len(value) > TAG_LIMIT:  # many small fields: cannot happen with workbench's events
        raise ConfigError(f"history entry of {model} too large ({len(value)} characters)")
    key = f"{HISTORY_TAG}{entry['seq']:06d}"
    writes = registry_writes(client)
    writes.set_registered_model_tag(model, key, value)
    anchor = json.dumps(ledger.anchor_value(model, entry["seq"], entry["hash"], history_key()))
    try:
        if champion is not None:
            writes.set_model_version_tag(model, champion, HEAD_TAG, anchor)
        writes.set_registered_model_tag(model, HEAD_TAG, anchor)
    except BaseException:  # back to the history as it was: no entry beyond its head
        with contextlib.suppress(Exception):
            writes.delete_registered_model_tag(model, key)
            if champion is not None:
                writes.delete_model_version_tag(model, champion, HEAD_TAG)
            if HEAD_TAG in tail.tags:
                writes.set_registered_model_tag(model, HEAD_TAG, tail.tags[HEAD_TAG])
        raise
    tail.entries.append(ledger.expand(entry, texts))
    tail.tags[HEAD_TAG] = anchor
    _announce(tail.entries[-1])
    return tail.entries[-1]


def _announce(entry: Mapping[str, Any]) -> None:
    """Tell the team's channels (queued: never blocks or fails the action it reports)."""
    from workbench.governance import alerts

    extra = {"request_id": f"{entry.get('model')}/{entry['seq']}"} \
        if entry.get("action") == "requested" else {}
    alerts.notify({**entry, **extra})


def _stored(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in (entry.get("blobs") or {})}


def _anchor(raw: str | None, where: str) -> ledger.Anchor | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return ledger.Anchor(where, int(data["seq"]), str(data["hash"]),
                             str(data["mac"]) if data.get("mac") else None)
    except (ValueError, TypeError, KeyError):
        return ledger.Anchor(where, 0, "unreadable")


def expand_entry(client: MlflowClient, stored: dict[str, Any]) -> dict[str, Any]:
    """A stored entry with its parts kept in artifacts read back."""
    blobs = stored.get("blobs") or {}
    return ledger.expand(stored, {name: _load_blob(client, str(ref.get("uri", "")))
                                  for name, ref in blobs.items()})


def _ledger_run(client: MlflowClient, model: str, tags: Mapping[str, str]) -> str:
    """The run whose artifacts hold `model`'s large history parts (made on first need)."""
    from workbench.tracking.store import ensure_experiment

    run_id = tags.get(LEDGER_RUN_TAG)
    if run_id:
        return run_id
    experiment = ensure_experiment(client, LEDGER_EXPERIMENT)
    run = client.create_run(experiment, run_name=f"history of {model}",
                            tags={leases.KIND_TAG: "ledger", "workbench.ledger.model": model})
    client.set_terminated(run.info.run_id)
    registry_writes(client).set_registered_model_tag(model, LEDGER_RUN_TAG, run.info.run_id)
    return str(run.info.run_id)


def _store_blob(client: MlflowClient, run_id: str, text: str) -> str:
    path = f"history/{ledger.digest(text)}.json"
    client.log_text(run_id, text, path)
    return f"runs:/{run_id}/{path}"


def _load_blob(client: MlflowClient, uri: str) -> str | None:
    """An entry's moved part; the entry names its ledger run by the id it had when written,
    so after `workbench migrate` the part is read from that run's copy."""
    from workbench.tracking.migrated import copies_of

    run_id, _, path = uri.removeprefix("runs:/").partition("/")
    text = load_artifact_text(client, run_id, path)
    if text is None and run_id:
        for copy in copies_of(client, run_id):
            text = load_artifact_text(client, copy.info.run_id, path)
            if text is not None:
                break
    return text


def load_artifact_text(client: MlflowClient, run_id: str, path: str) -> str | None:
    if not run_id or not path:
        return None
    bar = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # no bars on stderr for a few kilobytes
    saved = os.environ.get(bar)
    os.environ[bar] = "false"
    with tempfile.TemporaryDirectory() as scratch:
        try:
            local = client.download_artifacts(run_id, path, scratch)
            return Path(local).read_text()
        except Exception:  # gone, or never written: the caller reports what is missing
            return None
        finally:
            if saved is None:
                os.environ.pop(bar, None)
            else:
                os.environ[bar] = saved


# --- versions and records --------------------------------------------------------------------

def model_source(client: MlflowClient, run: Any) -> tuple[str, str | None]:
    """(source, model_id) of the model a run logged: its newest logged model, else an MLmodel
    in the run's `model` artifacts (MLflow 2 style); ConfigError when it logged none."""
    outputs = list(run.outputs.model_outputs) if run.outputs and run.outputs.model_outputs \
        else []
    if outputs:
        newest = max(outputs, key=lambda o: o.step or 0)
        return f"models:/{newest.model_id}", str(newest.model_id)
    with contextlib.suppress(Exception):
        if any(a.path.endswith("MLmodel") for a in client.list_artifacts(run.info.run_id,
                                                                         "model")):
            return f"{run.info.artifact_uri}/model", None
    raise ConfigError(f"run {run.info.run_id} logged no model; log one (wb.train returns a "
                      "module, or mlflow.<flavor>.log_model) before promoting")


def version_for_run(client: MlflowClient, model: str, run: Any,
                    tags: Mapping[str, str]) -> str:
    """The version holding `run`'s model, registered now if it is not yet (through the
    client's own store, no global tracking URI), carrying `tags`."""
    from workbench.tracking.store import filter_literal

    run_id = str(run.info.run_id)
    mine = f"name = {filter_literal(model)} and run_id = {filter_literal(run_id)}"
    for version in client.search_model_versions(mine):
        if version.run_id == run_id:
            set_version_tags(client, model, str(version.version), tags)
            return str(version.version)
    source, model_id = model_source(client, run)
    created = client.create_model_version(model, source, run_id=run_id, model_id=model_id,
                                          tags={k: fit_tag(v) for k, v in tags.items()})
    return str(created.version)


def version_run(client: MlflowClient, model: str, version: str) -> str | None:
    """The run of `model` v`version` ("" for none); ConfigError when there is no such version."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version(model, version).run_id or "")
    except MlflowException:
        raise ConfigError(f"{model} has no version {version}; see `workbench history "
                          f"{model}`") from None


def withdraw_approval(client: MlflowClient, model: str, version: str) -> None:
    """Best effort, after a promotion failed before its history entry: no approval tags that
    no entry made (verification would call them forged)."""
    writes = registry_writes(client)
    for key in (APPROVED_TAG, "workbench.approved_at"):
        with contextlib.suppress(Exception):
            writes.delete_model_version_tag(model, version, key)


def set_model_tags(client: MlflowClient, model: str, tags: Mapping[str, str]) -> None:
    writes = registry_writes(client)
    for key, value in tags.items():
        if len(value) > TAG_LIMIT:
            raise ConfigError(f"{key} of {model} would take {len(value)} characters, over "
                              f"MLflow's {TAG_LIMIT}; declare fewer gates")
        writes.set_registered_model_tag(model, key, value)


def is_governed(tags: Mapping[str, str]) -> bool:
    """Does a tracking server govern this model (it alone writes its alias and tags)?"""
    return tags.get(GOVERNED_TAG, "") == "true"


def set_version_tags(client: MlflowClient, model: str, version: str,
                     tags: Mapping[str, str]) -> None:
    writes = registry_writes(client)
    for key, value in tags.items():
        writes.set_model_version_tag(model, version, key, fit_tag(value))


def fit_tag(value: str, limit: int = TAG_LIMIT) -> str:
    """`value` within a tag's limit, marked when cut (the whole text is in the record)."""
    if len(value) <= limit:
        return value
    mark = " [... cut; the whole text is in the dossier]"
    return value[:limit - len(mark)] + mark


def record_path(model: str, version: str) -> str:
    return f"promotion/{model}-v{version}.json"


def log_record(client: MlflowClient, run_id: str, model: str, version: str,
               record: Mapping[str, Any]) -> None:
    client.log_text(run_id, json.dumps(record, indent=2, default=str),
                    record_path(model, version))


def load_record(client: MlflowClient, run_id: str, model: str, version: str
                ) -> dict[str, Any]:
    text = load_artifact_text(client, run_id, record_path(model, version))
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- models, to score them and read their inputs ---------------------------------------------

def version_model_uri(model: str, version: str) -> str:
    return f"models:/{model}/{version}"


def load_model(uri: str) -> Any:
    """The MLflow model at `uri` as a pyfunc (for predictions), from the configured store."""
    import mlflow

    with quiet_downloads():
        try:
            return mlflow.pyfunc.load_model(uri)
        except Exception as exc:
            raise ConfigError(f"cannot load the model {uri} to score it ({_first_line(exc)}); "
                              "check that its flavor's packages are installed here") from None


def model_inputs(uri: str) -> list[str] | None:
    """The input columns of the model at `uri`: its signature's column names, else the feature
    names workbench records beside a tensor signature; None when it names none. Reads only the
    MLmodel file."""
    import mlflow

    with quiet_downloads():
        try:
            info = mlflow.models.get_model_info(uri)
        except Exception as exc:
            raise ConfigError(f"cannot read the model {uri} ({_first_line(exc)}); check the "
                              "model's artifacts") from None
    return inputs_of(info.signature, info.metadata)


def inputs_of(signature: Any, metadata: Mapping[str, Any] | None) -> list[str] | None:
    schema = signature.inputs if signature is not None else None
    if schema is not None and not schema.is_tensor_spec() and schema.has_input_names():
        return [str(n) for n in schema.input_names()]
    names = (metadata or {}).get("feature_names")
    return [str(n) for n in names] if names else None


@contextlib.contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow progress bars on stderr while a model or a dataset downloads."""
    bar = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    saved = os.environ.get(bar)
    os.environ[bar] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(bar, None)
        else:
            os.environ[bar] = saved
