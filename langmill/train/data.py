"""Training data from langmill's shards: folders read, checked, mixed by weight, split, tokenised.

- `Source("DIR[:WEIGHT]")`: an output folder of any langmill stage (its `data/` shards, and its
  `stats.json` for the model card), a folder of Parquet shards, or one Parquet/JSONL file.
- `load_source(source, kind)`: the columns a kind trains on (cpt `text`, or `messages` rendered
  later; sft `messages`; dpo `prompt`/`chosen`/`rejected`) plus `lang`; a folder without them, an
  empty one, or a preference row whose chosen equals its rejected is a one-line `TrainDataError`.
- `mix_sources` / `mix_languages`: the final mix by weight, a weight being a share of the rows of
  the mix (by examples); a source smaller than its share is repeated (upsampled), a larger one
  sampled, with a seed; the realised mix comes back as a manifest (what `mix.json` records).
- `tokenize_chat`: a conversation as token ids plus the mask of the tokens trained on: every
  assistant turn with the template's end-of-turn marker (so the model learns to stop), found by
  rendering the conversation turn by turn with the chat template; a template whose renderings are
  not prefixes of each other cannot be masked this way and is refused in one line.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field

import polars as pl

KIND_COLUMNS = {"cpt": ("text", "messages"), "sft": ("messages",), "dpo": ("prompt", "chosen", "rejected")}
# ChatML (Poro's format), with the generation prompt that starts an assistant turn.
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CHATML_TOKENS = ["<|im_start|>", "<|im_end|>"]


class TrainDataError(Exception):
    """Training data that cannot be used; the message is one line naming the file or folder."""


@dataclass
class Source:
    """One --data argument: DIR[:WEIGHT]."""

    spec: str
    path: str = ""
    weight: float = 1.0
    files: list[str] = field(default_factory=list)
    stats: dict | None = None  # the stage's stats.json, when the folder is a langmill output folder

    def __post_init__(self):
        path, _, weight = self.spec.rpartition(":") if ":" in self.spec and not os.path.exists(self.spec) else (self.spec, "", "")
        try:
            self.weight = float(weight) if weight else 1.0
        except ValueError:
            raise TrainDataError(f"--data {self.spec}: the weight after ':' is not a number") from None
        if self.weight <= 0:
            raise TrainDataError(f"--data {self.spec}: the weight must be > 0")
        self.path = os.path.abspath(path)
        self.files = shard_files(self.path)
        stats = os.path.join(self.path, "stats.json")
        if os.path.isfile(stats):
            with open(stats) as f:
                self.stats = json.load(f)


def shard_files(path: str) -> list[str]:
    """The shards of a langmill output folder (DIR/data/), a folder of shards, or one file."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise TrainDataError(f"--data {path}: no such file or folder")
    folder = os.path.join(path, "data") if os.path.isdir(os.path.join(path, "data")) else path
    files = sorted(glob.glob(os.path.join(folder, "*.parquet"))) or sorted(glob.glob(os.path.join(folder, "*.jsonl")))
    if not files:
        raise TrainDataError(f"--data {path}: no .parquet or .jsonl shards in {folder}")
    return files


def _read(path: str, kind: str) -> pl.DataFrame:
    if not path.endswith(".parquet"):
        return _read_rows(path, kind)
    try:
        return pl.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - polars raises several kinds for a broken file
        raise TrainDataError(f"{path}: unreadable ({err.__class__.__name__}: {str(err).splitlines()[0][:200]})") from None


def _read_rows(path: str, kind: str) -> pl.DataFrame:
    """A JSONL file of rows in any format langmill reads (langmill.formats): SFT chats, ShareGPT,
    alpaca, dolly as `messages`; preference pairs (strings or message lists) as message lists;
    corpus rows as they are. A row that cannot be read is a one-line error naming FILE:LINE."""
    from langmill.formats import detect_format, to_fields
    from langmill.readers import BadRow, read_rows

    rows = []
    for where, row, bad, _ in read_rows(path):
        if row is None:
            raise TrainDataError(bad)
        if kind == "cpt" and "text" in row:
            rows.append({"text": row["text"], "lang": row.get("lang"), "id": row.get("id")})
            continue
        try:
            fields = to_fields(row, detect_format(row))
        except BadRow as err:
            raise TrainDataError(f"{where}: {err}") from None
        rows.append({**fields, "lang": row.get("lang"), "id": str(row["id"]) if row.get("id") is not None else where})
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def load_source(source: Source, kind: str) -> pl.DataFrame:
    """The rows of `source` that `kind` trains on: `lang` plus `text` or `messages` (cpt),
    `messages` (sft), or `prompt`/`chosen`/`rejected` (dpo); raises TrainDataError."""
    frames = []
    for path in source.files:
        frame = _read(path, kind)
        if frame.height == 0:
            continue
        wanted = KIND_COLUMNS[kind]
        present = [c for c in wanted if c in frame.columns]
        if kind == "cpt" and not present:
            raise TrainDataError(f"{path}: no `text` or `messages` column (columns: {', '.join(frame.columns[:8])}); train cpt reads corpus or SFT shards")
        if kind != "cpt" and len(present) < len(wanted):
            missing = [c for c in wanted if c not in frame.columns]
            raise TrainDataError(f"{path}: no `{missing[0]}` column (columns: {', '.join(frame.columns[:8])}); train {kind} reads "
                                 f"{'SFT' if kind == 'sft' else 'preference'} shards")
        column = present[0] if kind == "cpt" else None
        keep = [column] if column else list(wanted)
        frame = frame.select(*keep, (pl.col("lang") if "lang" in frame.columns else pl.lit(None, pl.String)).alias("lang"),
                             (pl.col("id").cast(pl.String) if "id" in frame.columns else pl.lit(None, pl.String)).alias("id"))
        if column == "text":
            frame = frame.with_columns(pl.lit(None).alias("messages"))
        elif kind == "cpt":
            frame = frame.with_columns(pl.lit(None, pl.String).alias("text"))
        frames.append(frame.with_columns(pl.lit(source.spec).alias("source")))
    if not frames:
        raise TrainDataError(f"--data {source.spec}: every shard is empty")
    if kind == "cpt":
        frames = [f.select("text", "messages", "lang", "id", "source") for f in frames]
    rows = pl.concat(frames, how="diagonal_relaxed")
    if kind == "dpo":
        same = rows.filter(pl.col("chosen") == pl.col("rejected"))
        if same.height:
            raise TrainDataError(f"--data {source.spec}: {same.height} preference row(s) whose chosen equals rejected (e.g. id {same['id'][0]!r}); "
                                 "a pair teaches nothing when both answers are the same")
    return rows


def allocate(sizes: list[int], weights: list[float], total: int) -> list[int]:
    """Rows per part for a mix of `total` rows whose parts are `weights` shares (largest remainders)."""
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


def take(frame: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """`n` rows of `frame`: whole copies while n exceeds it (upsampling), then a seeded sample."""
    copies, rest = divmod(n, frame.height)
    parts = [frame] * copies + [frame.sample(rest, seed=seed, shuffle=True)] if rest else [frame] * copies
    return pl.concat(parts) if parts else frame.head(0)


def _manifest(names: list[str], sizes: list[int], weights: list[float], counts: list[int]) -> list[dict]:
    total = sum(counts) or 1
    return [{"part": name, "rows": size, "weight": weight, "target_share": round(weight / sum(weights), 4), "taken": n,
             "realised_share": round(n / total, 4), "times_seen": round(n / size, 3) if size else None}
            for name, size, weight, n in zip(names, sizes, weights, counts)]


def mix_sources(parts: list[tuple[Source, pl.DataFrame]], seed: int, total: int | None = None) -> tuple[pl.DataFrame, list[dict]]:
    """The mix of every source by its weight (`total` rows; default: as many as all sources have)."""
    sizes, weights = [f.height for _, f in parts], [s.weight for s, _ in parts]
    if len(parts) == 1 and total is None:
        return parts[0][1], _manifest([parts[0][0].spec], sizes, weights, sizes)
    counts = allocate(sizes, weights, total or sum(sizes))
    mixed = pl.concat([take(f, n, seed + i) for i, ((_, f), n) in enumerate(zip(parts, counts))], how="diagonal_relaxed")
    return mixed.sample(fraction=1.0, shuffle=True, seed=seed), _manifest([s.spec for s, _ in parts], sizes, weights, counts)


def parse_mix(spec: str) -> dict[str, float]:
    """"en:0.4,fi:0.4,cross:0.2" -> {"en": 0.4, ...}: shares of the mix by the `lang` column."""
    shares = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        lang, _, share = part.partition(":")
        try:
            shares[lang.strip()] = float(share)
        except ValueError:
            raise TrainDataError(f"--mix {spec}: {part!r} is not LANG:SHARE") from None
        if shares[lang.strip()] <= 0:
            raise TrainDataError(f"--mix {spec}: the share of {lang!r} must be > 0")
    if not shares:
        raise TrainDataError("--mix is empty; e.g. --mix en:0.4,fi:0.4,cross:0.2")
    return shares


def mix_languages(rows: pl.DataFrame, shares: dict[str, float], seed: int, total: int | None = None) -> tuple[pl.DataFrame, list[dict]]:
    """`rows` re-mixed so that each value of `lang` is its share of the result; a language the
    shares name but the rows lack is a one-line error, rows of other languages are left out."""
    present = dict(rows.group_by("lang").len().iter_rows())
    missing = [lang for lang in shares if not present.get(lang)]
    if missing:
        raise TrainDataError(f"--mix names {missing[0]!r}, but no row has lang={missing[0]!r} (languages in the data: "
                             f"{', '.join(f'{k} {v}' for k, v in sorted(present.items(), key=lambda kv: -kv[1]) if k)})")
    groups = [rows.filter(pl.col("lang") == lang) for lang in shares]
    counts = allocate([g.height for g in groups], list(shares.values()), total or sum(g.height for g in groups))
    mixed = pl.concat([take(g, n, seed + i) for i, (g, n) in enumerate(zip(groups, counts))])
    return mixed.sample(fraction=1.0, shuffle=True, seed=seed), _manifest(list(shares), [g.height for g in groups], list(shares.values()), counts)


def split_eval(rows: pl.DataFrame, share: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A held-out split of `share` of the rows (at least one row when share > 0 and rows allow)."""
    n = min(max(1, round(rows.height * share)), rows.height - 1) if share > 0 and rows.height > 1 else 0
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=seed + 7)
    return shuffled.slice(n), shuffled.head(n)


# --- chat template ---------------------------------------------------------------------------------


def render(tokenizer, messages: list[dict], chat_template: str | None, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=chat_template, tokenize=False, add_generation_prompt=generation_prompt)


def tokenize_chat(tokenizer, messages: list[dict], chat_template: str | None = None) -> dict:
    """{"input_ids", "assistant_masks"}: the conversation as the chat template renders it, and 1 on
    the tokens of every assistant turn (its content and the template's end-of-turn after it)."""
    full = render(tokenizer, messages, chat_template)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:k], chat_template, generation_prompt=True) if k else ""
        upto = render(tokenizer, messages[: k + 1], chat_template)
        if not (full.startswith(upto) and upto.startswith(before)):
            raise TrainDataError("the chat template does not render a conversation turn by turn (an earlier rendering is not a prefix of a "
                                 "later one), so the assistant turns cannot be found; pass --chat-template chatml or --all-tokens")
        spans.append((len(before), len(upto)))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start < end_span and end > start_span for start_span, end_span in spans)) for start, end in encoded["offset_mapping"]]
    return {"input_ids": encoded["input_ids"], "assistant_masks": mask}
