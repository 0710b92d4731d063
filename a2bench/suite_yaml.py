"""How a suite file's YAML is read: PyYAML's safe loader, less the readings that would run
sizes other than the ones the file shows (a key given twice, YAML 1.1's octal and base-60
numbers). Each refusal is a yaml error with its mark; a2bench.suite.load_suite says it in one
line with the file's name.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class OnceLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping. PyYAML keeps the last
    without a word, so `h:` written twice, or a second `params:` pasted below the first, would
    run sizes the suite's author never meant."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key == "<<" or not isinstance(key, (str, int, float, bool)):
                continue  # a merge, or a key no suite uses: the schema's checks name it
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first at line "
                    f"{first[key].start_mark.line + 1}); expected each key once",
                    key_node.start_mark)
            first[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        _check_number_form(self, node)
        return super().construct_yaml_int(node)  # type: ignore[no-untyped-call,no-any-return]

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        _check_number_form(self, node)
        return super().construct_yaml_float(node)  # type: ignore[no-untyped-call,no-any-return]


class NumberForm(yaml.constructor.ConstructorError):
    """A number whose YAML 1.1 reading differs from its decimal one (load_suite names the
    file, line and column)."""


# YAML 1.1, which PyYAML implements, reads `016` as octal 14 and `1:2` as base 60, 62; YAML 1.2
# and every reader of the file read 16 and a string. A suite's sizes would change without a
# word (h: [016, 024, 032] ran 14, 20, 26), so both forms are refused where they resolve.
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+")


def _check_number_form(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> None:
    text = str(node.value)
    if ":" in text:
        read = yaml.SafeLoader.construct_yaml_int if "." not in text else \
            yaml.SafeLoader.construct_yaml_float
        raise NumberForm(None, None, f"{text}: YAML 1.1 reads digits joined by colons as base "
                          f"60 ({read(loader, node)}); expected a decimal number, or the text "
                          f"quoted (\"{text}\") where text is meant", node.start_mark)
    if _LEADING_ZERO.fullmatch(text):
        decimal = int(text.replace("_", ""), 10)
        raise NumberForm(None, None, f"{text}: YAML 1.1 reads a leading zero as octal "
                          f"({yaml.SafeLoader.construct_yaml_int(loader, node)}); expected a "
                          f"decimal integer without leading zeros, e.g. {decimal}",
                          node.start_mark)


OnceLoader.add_constructor("tag:yaml.org,2002:int", OnceLoader.construct_yaml_int)
OnceLoader.add_constructor("tag:yaml.org,2002:float", OnceLoader.construct_yaml_float)
