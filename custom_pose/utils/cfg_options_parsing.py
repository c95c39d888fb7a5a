# Copyright (c) custom_pose contributors. All rights reserved.
"""Parsing ``--cfg-options KEY=VALUE ...``.

:class:`CfgOptionsAction` parses the pairs as mmengine's ``DictAction``
does (lists, tuples, numbers, booleans, ``None``), and also dicts of
literals (``dict(type='Pretrained', checkpoint='x.pth')``, which
``DictAction`` cannot parse), except that a value keeps its inner spaces
(``data_root=/a b/c d``) and a pair without ``=``, with unbalanced brackets
or with a dict that is not made of literals is one usage error.
"""
import argparse
import ast
from typing import Any, List, Optional, Sequence, Union

__all__ = ['CfgOptionsAction', 'parse_cfg_value']


def _scalar(text: str) -> Any:
    """``int``, ``float``, ``bool`` or ``None`` where ``text`` spells one
    (as mmengine's ``DictAction``), else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    return None if text == 'None' else text


def _split_top_level(text: str) -> List[str]:
    """``text`` split at the commas outside brackets (a trailing comma
    ends the list, as in mmengine)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
        elif char == ',' and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:])
    return parts


def parse_cfg_value(text: str) -> Any:
    """The value of one ``--cfg-options KEY=VALUE``.

    As mmengine's ``DictAction``: ``1`` and ``0.5`` are numbers, ``true``
    and ``False`` booleans, ``None`` is ``None``, ``a,b`` and ``[a, b]``
    lists, ``(1, 2)`` tuples (nested too), ``dict(type='X', a=1)`` and
    ``{'type': 'X'}`` dicts, and surrounding quotes are dropped; unlike
    it, spaces inside a value are kept (``/a b/c d``), only those around a
    value or a list item are dropped.

    Raises:
        ValueError: If the brackets are unbalanced or a dict is not made of
            literals.
    """
    if text.count('(') != text.count(')') or \
            text.count('[') != text.count(']'):
        raise ValueError(f'unbalanced brackets in {text!r}')
    val = text.strip().strip('\'"').strip()
    if val.startswith(('dict(', '{')):
        return _python_literal(val)
    if val[:1] + val[-1:] in ('()', '[]'):
        items = [parse_cfg_value(v) for v in _split_top_level(val[1:-1])]
        return tuple(items) if val[0] == '(' else items
    if ',' not in val:
        return _scalar(val)
    return [parse_cfg_value(v) for v in _split_top_level(val)]


def _python_literal(text: str) -> Any:
    """A dict written as ``dict(a=1, b='x')`` or ``{'a': 1}``, of
    literals and nested such dicts (nothing is evaluated)."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == 'dict' and not node.args and \
                all(k.arg for k in node.keywords):
            return {k.arg: value(k.value) for k in node.keywords}
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {value(k): value(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        return ast.literal_eval(node)

    try:
        return value(ast.parse(text, mode='eval').body)
    except (SyntaxError, ValueError, TypeError):
        raise ValueError(
            f'{text!r} is not a dict of literals (e.g. '
            "dict(type='Pretrained', checkpoint='x.pth'))") from None


class CfgOptionsAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` into ``{KEY: value}``
    (:func:`parse_cfg_value`); later pairs win, repeated options add up.

    A pair without ``=``, with an empty key or with unbalanced brackets is
    an ``argparse`` usage error naming it (one ``error:`` line)."""

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None],
                 option_string: Optional[str] = None) -> None:
        options = dict(getattr(namespace, self.dest, None) or {})
        pairs = [values] if isinstance(values, str) else list(values or ())
        for pair in pairs:
            key, sep, text = str(pair).partition('=')
            if not sep or not key.strip():
                raise argparse.ArgumentError(
                    self, f'{pair!r} is not KEY=VALUE (e.g. '
                    'train_cfg.max_epochs=10)')
            try:
                options[key.strip()] = parse_cfg_value(text)
            except ValueError as exc:
                raise argparse.ArgumentError(
                    self, f'{key.strip()}: {exc}') from None
        setattr(namespace, self.dest, options)
