"""Configs that come from files (archives, checkpoints, override YAMLs): read them without running or exploding anything.

* YAML aliases are expanded only up to a bound (a "billion laughs" file is refused before OmegaConf copies it);
* OmegaConf resolver calls (`${oc.env:...}`, `${oc.create:...}`, any custom resolver) are refused, naming the key:
  they would read the environment or run registered code while restoring. Plain interpolations to other keys
  (`${model.sample_rate}`, `${..labels}`) stay;
* the size those interpolations resolve to is bounded, so `a1: ${a0}${a0}`, `a2: ${a1}${a1}`, ... is refused too;
* escaped interpolations (`\\${...}`) are refused: resolving unescapes them, and a config re-created from the result
  (as models do) would evaluate them. After these checks the config is resolved once, so nothing is left to evaluate.
"""

from typing import Any, Dict, List, Optional, Tuple

import yaml
from antlr4.tree.Tree import TerminalNode
from omegaconf import DictConfig, ListConfig, OmegaConf, grammar_parser
from omegaconf._utils import get_yaml_loader
from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser as _G

from nemo.utils.exceptions import ConfigError

MIN_BUDGET = 1 << 20  # bytes or nodes every config may use, whatever its size
EXPANSION = 8  # ... plus this multiple of its own size


def budget(text_size: int) -> int:
    """How many expanded YAML nodes / resolved characters a config of `text_size` bytes may reach."""
    return MIN_BUDGET + EXPANSION * int(text_size)


def _loader_class():
    """OmegaConf's YAML loader (its tag resolvers, duplicate-key check) over libyaml's parser when PyYAML has it:
    the same documents, parsed ~10x faster (a 1024-token vocabulary is listed five times in a Parakeet config)."""
    global _LOADER
    if _LOADER is None:
        base = get_yaml_loader()
        if getattr(yaml, "__with_libyaml__", False):
            class _CLoader(yaml.cyaml.CParser, base):
                def __init__(self, stream):
                    yaml.cyaml.CParser.__init__(self, stream)
                    yaml.constructor.SafeConstructor.__init__(self)
                    yaml.resolver.Resolver.__init__(self)

            _LOADER = _CLoader
        else:
            _LOADER = base
    return _LOADER


_LOADER = None


def load_yaml(text: str, where: str) -> Any:
    """`OmegaConf.create(text)` after checking that YAML aliases don't expand it beyond `budget`."""
    loader = None
    try:
        loader = _loader_class()(text)  # the reader checks characters here already
        root = loader.get_single_node()
    except (yaml.YAMLError, UnicodeError) as e:
        if loader is not None:
            loader.dispose()
        raise ConfigError(f"{where} is not valid YAML: {e}") from e
    limit = budget(len(text))
    sizes: Dict[int, int] = {}

    def expanded(node) -> int:
        key = id(node)
        if key in sizes:
            if sizes[key] < 0:
                raise ConfigError(f"{where}: a YAML alias refers to its own ancestor (a recursive structure)")
            return sizes[key]
        sizes[key] = -1
        if isinstance(node, yaml.MappingNode):
            n = 1 + sum(expanded(k) + expanded(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n = 1 + sum(expanded(v) for v in node.value)
        else:
            n = 1 + len(node.value)
        sizes[key] = n
        if n > limit:
            line = node.start_mark.line + 1 if node.start_mark is not None else "?"
            raise ConfigError(f"{where}: YAML aliases expand the config beyond {limit} nodes/bytes (at line {line}); "
                              "refusing an alias bomb")
        return n

    try:
        if root is not None:
            expanded(root)
        data = loader.construct_document(root) if root is not None else {}
        if not isinstance(data, (dict, list)):
            raise ConfigError(f"{where} is not a valid config: a {type(data).__name__}, not a mapping")
        return OmegaConf.create(data)  # from the nodes already composed: the text is parsed once
    except ConfigError:
        raise
    except Exception as e:  # yaml and omegaconf raise many types on garbage
        raise ConfigError(f"{where} is not a valid config: {type(e).__name__}: {e}") from e
    finally:
        loader.dispose()


def _interpolations(value: str, where: str, key: str) -> List[Tuple[int, List[str]]]:
    """Node interpolations in `value` as (leading dots, keys); raises on a resolver call."""
    try:
        tree = grammar_parser.parse(value)
    except Exception as e:
        raise ConfigError(f"{where}: key `{key}` has a malformed interpolation {value!r}: {e}") from e
    refs: List[Tuple[int, List[str]]] = []

    def walk(node) -> None:
        if isinstance(node, TerminalNode):
            return
        if isinstance(node, _G.InterpolationResolverContext):
            name = node.resolverName().getText() if node.resolverName() is not None else "?"
            raise ConfigError(f"{where}: key `{key}` calls the resolver `{name}` ({value!r}); resolvers are not "
                              "evaluated in restored configs. Set a plain value instead.")
        if isinstance(node, _G.InterpolationNodeContext):
            dots, keys = 0, []
            for child in node.getChildren():
                if isinstance(child, TerminalNode) and child.getText() == "." and not keys:
                    dots += 1
                elif isinstance(child, _G.ConfigKeyContext):
                    if any(not isinstance(c, TerminalNode) for c in child.getChildren()):
                        walk(child)
                        raise ConfigError(f"{where}: key `{key}` has an interpolation with a computed key ({value!r})")
                    keys.append(child.getText())
            refs.append((dots, keys))
            return
        for child in node.getChildren():
            walk(child)

    walk(tree)
    return refs


def check_restored_config(config: Any, where: str, text_size: Optional[int] = None) -> bool:
    """Refuse resolver calls anywhere in `config`, and interpolations that resolve beyond `budget`.

    Returns whether `config` holds any interpolation (so resolving it would change anything)."""
    if not isinstance(config, (DictConfig, ListConfig)):
        return False
    plain = OmegaConf.to_container(config, resolve=False)
    refs: Dict[Tuple, List[Tuple[int, List[str]]]] = {}
    own: Dict[Tuple, int] = {}

    def scan(node: Any, path: Tuple) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                scan(v, path + (str(k),))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                scan(v, path + (str(i),))
        elif isinstance(node, str) and "${" in node:
            if "\\${" in node:  # resolving unescapes it, and a config re-created from the result would evaluate it
                raise ConfigError(f"{where}: key `{_dotted(path)}` holds an escaped interpolation ({node!r}); "
                                  "restored configs may not carry them")
            refs[path] = _interpolations(node, where, _dotted(path))
            own[path] = len(node)

    scan(plain, ())
    if not refs:
        return False
    limit = budget(text_size if text_size is not None else len(OmegaConf.to_yaml(config)))
    memo: Dict[Tuple, int] = {}

    def lookup(path: Tuple) -> Any:
        node = plain
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def size(path: Tuple) -> int:
        if path in memo:
            if memo[path] < 0:
                raise ConfigError(f"{where}: key `{_dotted(path)}` is part of an interpolation cycle")
            return memo[path]
        memo[path] = -1
        node = lookup(path)
        if isinstance(node, dict):
            n = sum(len(k) + size(path + (str(k),)) for k in node)
        elif isinstance(node, list):
            n = sum(1 + size(path + (str(i),)) for i in range(len(node)))
        elif path in refs:
            n = own[path]
            for dots, keys in refs[path]:
                base = path[: len(path) - dots] if dots else ()
                n += size(base + tuple(_split_keys(keys)))
        else:
            n = len(str(node))
        memo[path] = n
        if n > limit:
            raise ConfigError(f"{where}: key `{_dotted(path)}` resolves to more than {limit} characters through "
                              "interpolations; refusing an interpolation bomb")
        return n

    for path in refs:
        size(path)
    return True


def _split_keys(keys: List[str]) -> List[str]:
    out: List[str] = []
    for k in keys:
        out.extend(p for p in k.replace("[", ".").replace("]", "").split(".") if p)
    return out


def _dotted(path: Tuple) -> str:
    return ".".join(path) or "<root>"


def resolve_restored(config: Any, where: str, text_size: Optional[int] = None) -> Any:
    """`config` checked by `check_restored_config`, then with its interpolations resolved (errors name the key)."""
    if not isinstance(config, (DictConfig, ListConfig)):
        return config
    try:
        if not check_restored_config(config, where, text_size):
            return config
        return OmegaConf.create(OmegaConf.to_container(config, resolve=True))
    except ConfigError:
        raise
    except RecursionError as e:
        raise ConfigError(f"{where}: the config is nested too deeply to read") from e
    except Exception as e:  # omegaconf's interpolation and validation errors
        raise ConfigError(f"{where}: {type(e).__name__}: {e}") from e


def read_config(text: str, where: str) -> Any:
    """A config from untrusted YAML text: bounded aliases, no resolvers, bounded interpolations, then resolved."""
    try:
        config = load_yaml(text, where)
    except RecursionError as e:
        raise ConfigError(f"{where}: the config is nested too deeply to read") from e
    return resolve_restored(config, where, text_size=len(text))
