"""The base of every langmill filter: a datatrove filter whose drop reason lands in `excluded/`."""

from abc import abstractmethod

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter


class CorpusFilter(BaseFilter):
    """A datatrove filter that records why it dropped a document.

    Subclasses set `reason` (the `reason` column of `excluded/`, e.g. "gopher_quality") and implement
    `check`, which returns None to keep the document or a short `detail` string (e.g.
    "mean_word_length=1.9<3") to drop it. `check` may edit `doc.text` (C4 removes lines).
    """

    reason: str = "filter"

    def __init__(self, config: dict | None = None, exclusion_writer=None):
        super().__init__(exclusion_writer=exclusion_writer)
        self.config = dict(config or {})

    @abstractmethod
    def check(self, doc: Document) -> str | None: ...

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.verdict(doc, self.check(doc))

    def verdict(self, doc: Document, detail: str | None) -> bool | tuple[bool, str]:
        """datatrove's filter result for `check`'s answer; records reason and detail on a drop."""
        if detail is None:
            return True
        doc.metadata["reason"] = self.reason
        doc.metadata["detail"] = detail
        return False, self.reason


class DropBadRows(CorpusFilter):
    """Sends the rows `InputReader` could not read (their metadata holds `bad_row`, the detail) to
    `excluded/` with reason `bad_row`; the step after the reader in `corpus`."""

    name = "🚮 Unreadable rows"
    reason = "bad_row"

    def check(self, doc: Document) -> str | None:
        return doc.metadata.get("bad_row")
