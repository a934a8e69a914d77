"""The parameters a pilot notebook declares: papermill's `parameters` cell, or marimo's setup.

Pure reading (no kernel): defaults must be literals, as papermill can only override literals.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path

from workbench.errors import ConfigError
from workbench.pipelines.spec import Param, check_identifier

TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}


def notebook_parameters(path: Path) -> dict[str, Param]:
    """name -> Param(type, default, description from the line's comment)."""
    if path.suffix == ".ipynb":
        return _parse(_parameters_cell(path), path, "the parameters cell")
    if path.suffix == ".py":
        return _parse(_marimo_setup(path), path, "the app.setup block")
    raise ConfigError(f"{path} is not a notebook (.ipynb or marimo .py)")


def _parameters_cell(path: Path) -> str:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable notebook ({exc})") from None
    for cell in notebook.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and "parameters" in tags:
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    raise ConfigError(
        f"{path} has no cell tagged 'parameters'; select the cell that assigns the defaults, "
        "open JupyterLab's property inspector (gear icon, right sidebar) and add the tag "
        "parameters")


def _marimo_setup(path: Path) -> str:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.With) and any(
                ast.unparse(item.context_expr) == "app.setup" for item in node.items):
            lines = source.splitlines()
            body = lines[node.body[0].lineno - 1:node.body[-1].end_lineno]
            indent = min(len(line) - len(line.lstrip()) for line in body if line.strip())
            return "\n".join(line[indent:] for line in body)
    raise ConfigError(f"{path} declares no parameters: put their literal defaults in a "
                      "`with app.setup:` block (read overrides with mo.cli_args())")


def _parse(code: str, path: Path, where: str) -> dict[str, Param]:
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ConfigError(f"{path}: {where} is not valid Python ({exc.msg}, line {exc.lineno})"
                          ) from None
    comments = _line_comments(code)
    params: dict[str, Param] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue  # imports and docstrings may sit beside the defaults
        if not (isinstance(node, (ast.Assign, ast.AnnAssign))):
            raise ConfigError(f"{path}: {where} may only assign literal defaults; line "
                              f"{node.lineno} is `{ast.unparse(node)[:60]}`")
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
            raise ConfigError(f"{path}: line {node.lineno} of {where}: assign one name at a time")
        name = targets[0].id
        try:
            check_identifier(name)
            value = ast.literal_eval(node.value)
        except ValueError as exc:
            raise ConfigError(f"{path}: parameter {name} in {where} is not a literal "
                              f"({ast.unparse(node.value)[:60]}); papermill can only override "
                              f"literal defaults: {exc}") from None
        kind = TYPE_NAMES.get(type(value))
        if kind is None:
            raise ConfigError(f"{path}: parameter {name} has a default of type "
                              f"{type(value).__name__}; use int, float, str, bool, list or dict")
        params[name] = Param(type=kind, default=value,  # type: ignore[arg-type]
                             description=comments.get(node.lineno, ""))
    if not params:
        raise ConfigError(f"{path}: {where} assigns no parameters; give each a literal default")
    return params


def _line_comments(code: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.COMMENT:
                out[token.start[0]] = token.string.lstrip("#").strip()
    except tokenize.TokenError:
        pass
    return out

