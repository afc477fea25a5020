"""The datatrove pipeline that does what `langmill corpus --lang fi` filters, for comparison:

    JsonlReader -> LanguageFilter(["fi"]) -> GopherRepetitionFilter -> GopherQualityFilter
    -> C4QualityFilter -> FineWebQualityFilter -> JsonlWriter      (1 task, LocalPipelineExecutor)

    .venv/bin/python bench/datatrove_pipeline.py INPUT.jsonl OUT_DIR

Filters take language="fi" and their default thresholds. datatrove's LanguageFilter would download
lid.176.bin; here it reads the same lid.176.ftz that langmill embeds (no network), through a subclass
that changes only that and skips the dependency check (see OfflineLanguageFilter).
"""

from __future__ import annotations

import sys
from pathlib import Path

LANG = "fi"


class NumpyScores:
    """fasttext-predict returns scores as floats; datatrove calls `.item()` on them (numpy, as the
    `fasttext` wheel returns). Same model, same predictions."""

    def __init__(self, model):
        self.model = model

    def predict(self, text: str, k: int = 1):
        import numpy as np

        labels, scores = self.model.predict(text, k=k)
        return labels, np.asarray(scores, dtype=np.float64)


def local_ft176(languages: list[str]):
    """datatrove's FT176 language ID, reading the local lid.176.ftz instead of downloading."""
    from datatrove.utils.lid import FT176LID

    from langmill.filters.lid import default_lid_model

    class LocalFT176(FT176LID):
        @property
        def model(self):
            if self._model is None:
                import fasttext

                self._model = NumpyScores(fasttext.load_model(default_lid_model()))
            return self._model

    return LocalFT176(languages)


def pipeline(input_path: Path, out_dir: Path, with_lid: bool = True) -> list:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    class OfflineLanguageFilter(LanguageFilter):
        """datatrove's filter, unchanged, minus its dependency check: it asks for `fasteners` (which
        only locks the model download) and the `fasttext-numpy2-wheel` distribution, while this
        environment has the same `fasttext` module from `fasttext-predict`."""

        def __new__(cls, *args, **kwargs):
            return object.__new__(cls)

    lid = OfflineLanguageFilter(languages=[LANG])
    lid.model = local_ft176([LANG])
    return [
        JsonlReader(str(input_path.parent), glob_pattern=input_path.name),
        *([lid] if with_lid else []),
        GopherRepetitionFilter(language=LANG),
        GopherQualityFilter(language=LANG),
        C4QualityFilter(language=LANG),
        FineWebQualityFilter(language=LANG),
        JsonlWriter(str(out_dir / "output")),
    ]


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor

    input_path, out_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    with_lid = "--no-lid" not in sys.argv[3:]  # --no-lid: the filter chain alone, on every document
    LocalPipelineExecutor(pipeline(input_path, out_dir, with_lid), tasks=1, workers=1, logging_dir=str(out_dir / "logs")).run()


if __name__ == "__main__":
    main()
