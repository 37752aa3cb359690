"""A ``details`` directive: its content in a collapsible section under a one-line summary.

In HTML it is ``<details><summary>...</summary>...</details>``, closed by default, so a page can
lead with its summary and keep its full tables one click away. Other builders show the content
as it is.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


class details(nodes.General, nodes.Element):  # noqa: N801 (docutils names nodes in lower case)
    """The collapsible section; ``summary`` holds the line shown while it is closed."""


def _visit_html(translator, node: details) -> None:
    translator.body.append(translator.starttag(node, "details", CLASS="jaxloss-details"))
    translator.body.append(f"<summary>{translator.encode(node['summary'])}</summary>\n")


def _depart_html(translator, node: details) -> None:
    translator.body.append("</details>\n")


def _visit_other(translator, node: details) -> None:
    """Builders without collapsible sections show the content in place."""


def _depart_other(translator, node: details) -> None:
    """Nothing to close."""


class Details(SphinxDirective):
    """``{details} <summary line>`` followed by the content to fold away."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self) -> list[nodes.Node]:
        node = details(summary=self.arguments[0])
        self.set_source_info(node)
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def setup(app) -> dict:
    other = (_visit_other, _depart_other)
    app.add_node(details, html=(_visit_html, _depart_html), latex=other, text=other, man=other,
                 texinfo=other)
    app.add_directive("details", Details)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
