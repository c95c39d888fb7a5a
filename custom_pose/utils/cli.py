"""Helpers shared by the command-line tools in ``tools/`` and ``demo/``."""
import sys
from typing import Any, Dict, Iterable, NoReturn

from mmengine.config import Config

__all__ = ['CfgOptionsError', 'check_cfg_options', 'fail']


class CfgOptionsError(KeyError):
    """An ``--cfg-options`` key that does not fit the config."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _closest(name: str, candidates: Iterable[str]) -> str:
    import difflib
    match = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ''


def check_cfg_options(cfg: Config, options: Dict[str, Any]) -> None:
    """Check ``--cfg-options`` keys against ``cfg`` before they are merged.

    mmengine merges any dotted key, so a typo such as ``modle.backbone.depth``
    silently adds a new, unused entry and the run goes on with the old value.
    Every component of a key but the last must exist (the last may add a new
    argument to an existing module dict), list indices must be in range, and a
    value replacing an int/float/bool must be of a compatible type.

    Args:
        cfg (Config): The loaded config.
        options (dict): ``{'a.b.c': value}`` as parsed by mmengine's
            ``DictAction``.

    Raises:
        CfgOptionsError: Naming the key, the missing part and close matches.
    """
    for key, value in options.items():
        node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
        parts = key.split('.')
        for depth, part in enumerate(parts):
            path = '.'.join(parts[:depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    raise CfgOptionsError(
                        f"--cfg-options {key}: '{path}' indexes a list of "
                        f'{len(node)} items; use an index 0..{len(node) - 1}')
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise CfgOptionsError(
                    f"--cfg-options {key}: '{'.'.join(parts[:depth])}' is "
                    f'{node!r}, not a dict, so it has no key {part!r}')
            if part not in node:
                if last and depth > 0:
                    break  # a new argument for an existing dict
                raise CfgOptionsError(
                    f"--cfg-options {key}: the config has no '{path}'"
                    f'{_closest(part, node.keys())}')
            node = node[part]
            if last and node is not None and value is not None:
                expected = type(node)
                if expected is bool and not isinstance(value, bool):
                    raise CfgOptionsError(
                        f'--cfg-options {key}={value!r}: expected True or False')
                if expected in (int, float) and (
                        isinstance(value, bool)
                        or not isinstance(value, (int, float))):
                    raise CfgOptionsError(
                        f'--cfg-options {key}={value!r}: expected a number '
                        f'like the current value {node!r}')


def fail(prog: str, message: str, code: int = 1) -> NoReturn:
    """Print ``prog: error: message`` to stderr and exit with ``code``."""
    print(f'{prog}: error: {message}', file=sys.stderr)
    sys.exit(code)
