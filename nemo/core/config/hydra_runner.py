"""`hydra_runner`: run a script's `main(cfg)` with a config composed by Hydra from YAML, a dataclass and the CLI.

Precedence is CLI > YAML > dataclass `schema`. The working directory never changes and Hydra writes
no `outputs/` or `.hydra/` folders. Calling the decorated function with a `DictConfig` skips Hydra.
"""

import functools
import os
import re
import sys
import warnings
from typing import Any, Callable, List, Optional

from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = ["hydra_runner"]

# Appended to every command line: no output dir, no `.hydra/` copy, no log file, no chdir.
_QUIET_OVERRIDES = (
    "hydra.output_subdir=null",
    "hydra/job_logging=stdout",
    "hydra.run.dir=.",
    "hydra.job.chdir=False",
)


def _gpu_name() -> Optional[str]:
    """`${gpu_name:}`: "a100" on compute capability 8, "h100" on 9, else None."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        major, _ = torch.cuda.get_device_capability()
    except Exception:
        return None
    return {8: "a100", 9: "h100"}.get(major)


def _register_resolvers() -> None:
    for name, fn in (
        ("multiply", lambda x, y: x * y),
        ("sum", lambda x, y: x + y),
        ("gpu_name", _gpu_name),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


_register_resolvers()


def _full_errors() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")


def _report_and_exit(exc: BaseException) -> None:
    """Print one readable line for an error raised by the task, then exit with status 1."""
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        where = f" ({tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"
        tb = tb.tb_next
    sys.stderr.write(f"Error: {type(exc).__name__}: {exc}{where}\n")
    sys.stderr.write("Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _check_primary_yaml(task_function: Callable, config_path: Optional[str], config_name: Optional[str]) -> None:
    """Fail with one line when the primary YAML does not parse (Hydra would print a yaml stack trace)."""
    if config_path is None or config_name is None or _full_errors():
        return
    if config_path.startswith("pkg://") or config_path.startswith("file://"):
        return
    import inspect

    try:
        script_dir = os.path.dirname(os.path.abspath(inspect.getfile(inspect.unwrap(task_function))))
    except TypeError:
        return
    name = config_name if config_name.endswith(".yaml") else config_name + ".yaml"
    path = os.path.join(script_dir, config_path, name)
    if not os.path.isfile(path):
        return  # Hydra reports a missing config in one message
    try:
        OmegaConf.load(path)
    except Exception as exc:
        detail = " ".join(str(exc).split())
        sys.stderr.write(f"Error: cannot parse config {path}: {detail}\n")
        sys.exit(1)


# `model.optim=adam`: a bare optimizer name given to an `optim` section.
_OPTIM_SWITCH = re.compile(r"^(?P<key>(?:[A-Za-z_]\w*\.)*optim)=(?P<name>[A-Za-z_][\w-]*)$")


def _split_optimizer_switches(overrides: list) -> tuple:
    """Rewrite `<path>.optim=<name>` as `++<path>.optim.name=<name>` and remember the switch.

    Hydra alone would replace the whole section by the string, and a later `model.optim.lr=...` would fail.
    """
    rewritten, switches = [], {}
    for override in overrides:
        match = _OPTIM_SWITCH.match(override)
        if match and match.group("name") not in ("null", "true", "false"):
            switches[match.group("key")] = match.group("name")
            rewritten.append(f"++{match.group('key')}.name={match.group('name')}")
        else:
            rewritten.append(override)
    return rewritten, switches


def _apply_optimizer_switches(cfg: DictConfig, switches: dict, overrides: list) -> None:
    """Keep `name`, `lr`, `sched` and the keys set on the command line; drop the old optimizer's other arguments."""
    from nemo.core.optim.setup import switch_optimizer

    for key, name in switches.items():
        section = OmegaConf.select(cfg, key)
        if not isinstance(section, DictConfig):
            continue
        explicit = set()
        for override in overrides:
            path = override.lstrip("+~").split("=", 1)[0]
            if path.startswith(key + "."):
                explicit.add(path[len(key) + 1 :].split(".")[0])
        new = switch_optimizer(section, name)
        for field in explicit - {"name"}:
            if field in section:
                new[field] = OmegaConf.to_container(section[field]) if OmegaConf.is_config(section[field]) else section[field]
        with open_dict(cfg):
            OmegaConf.update(cfg, key, new, merge=False)


def _delete_keys(cfg: DictConfig, keys: List[str]) -> DictConfig:
    """A plain struct-mode copy of `cfg` without `keys` (the `~key` overrides given with a schema)."""
    plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    for key in keys:
        parent_key, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(plain, parent_key) if parent_key else plain
        if not isinstance(parent, DictConfig) or leaf not in parent:
            raise SystemExit(f"Could not delete from config. '{key}' does not exist.")
        del parent[leaf]
    OmegaConf.set_struct(plain, True)
    return plain


def _store_schema(schema: Any, config_name: str) -> None:
    """Register `schema` under the YAML's name; a `hydra` field (NemoConfig's) is Hydra's own, so it is left out."""
    from hydra.core.config_store import ConfigStore

    node = OmegaConf.structured(schema)
    if "hydra" in node:
        node = OmegaConf.masked_copy(node, [k for k in node if k != "hydra"])
    ConfigStore.instance().store(name=config_name, node=node)


def hydra_runner(
    config_path: Optional[str] = ".", config_name: Optional[str] = None, schema: Optional[Any] = None
) -> Callable[[Callable[[DictConfig], Any]], Callable[..., None]]:
    """Decorate `main(cfg)` so it receives the config composed from `config_path/config_name.yaml`.

    Args:
        config_path: folder of the YAML files, relative to the decorated script (as in Hydra).
        config_name: YAML file name without `.yaml`; `--config-name` on the command line wins.
        schema: optional dataclass; its defaults sit under the YAML, and unknown YAML keys fail.
    """

    def decorator(task_function: Callable[[DictConfig], Any]) -> Callable[..., None]:
        @functools.wraps(task_function)
        def wrapper(cfg_passthrough: Optional[DictConfig] = None) -> None:
            if cfg_passthrough is not None:
                return task_function(cfg_passthrough)

            from hydra._internal.utils import _run_hydra, get_args_parser

            parser = get_args_parser()
            args = parser.parse_args()
            user_overrides, switches = _split_optimizer_switches(list(args.overrides))
            deletions = []
            if schema is not None:  # structured configs can't delete keys: apply `~key` after composing
                deletions = [o[1:].split("=", 1)[0] for o in user_overrides if o.startswith("~")]
                user_overrides = [o for o in user_overrides if not o.startswith("~")]
            args.overrides = user_overrides + list(_QUIET_OVERRIDES)

            _check_primary_yaml(task_function, args.config_path or config_path, args.config_name or config_name)
            if schema is not None:
                name = args.config_name or config_name
                if name is None:
                    sys.stderr.write("hydra_runner: a `schema` needs a config name (`--config-name`).\n")
                    sys.exit(1)
                if "/" in name or os.sep in name:
                    sys.stderr.write(
                        f"hydra_runner: --config-name={name} contains a folder; with a schema, pass the folder "
                        "with --config-path and only the file name with --config-name.\n"
                    )
                    sys.exit(1)
                _store_schema(schema, name)

            def task(cfg: DictConfig) -> None:
                if deletions:
                    cfg = _delete_keys(cfg, deletions)
                if switches:
                    _apply_optimizer_switches(cfg, switches, user_overrides)
                if _full_errors():
                    task_function(cfg)
                    return
                try:
                    task_function(cfg)
                except Exception as exc:  # one clear line instead of a stack trace
                    _report_and_exit(exc)

            # Hydra finds the calling script through the task function's module.
            functools.update_wrapper(task, task_function)
            with warnings.catch_warnings():
                for text in ("is validated against ConfigStore schema", "Future Hydra versions", "version_base"):
                    warnings.filterwarnings("ignore", message=f"(?s).*{text}")
                _run_hydra(
                    args=args,
                    args_parser=parser,
                    task_function=task,
                    config_path=config_path,
                    config_name=config_name,
                )

        return wrapper

    return decorator
