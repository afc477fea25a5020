"""`langmill run RECIPE.yaml`: a whole recipe, from raw text to a published, evaluated model, from one file.

    RECIPE.yaml ──load_recipe──▶ Recipe: vars (${name}, --set), defaults, stages in file order
                ──resolve──────▶ one langmill command line per stage; a setting that names an earlier
                                 stage reads its output (`data: translate` → OUT/translate/data,
                                 `model: sft` → OUT/sft/model, publish → the stage folder itself)
                ──run_recipe───▶ each stage as `python -m langmill.cli COMMAND ... --out OUT/<stage>`;
                                 OUT/run-state.json records what finished, with which settings

A finished stage is skipped while its settings, the runs of the stages it reads and its input files
are what they were; otherwise it starts over, and so do the stages that read it. A stage that was
killed resumes inside itself: every command resumes its own output folder.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
STATE_FILE = "run-state.json"
TOP_LEVEL_KEYS = {"name", "description", "out", "vars", "defaults", "stages"}
# How a stage runs, not what it makes: changing these does not make a finished stage run again.
RUNTIME_OPTIONS = {"workers", "executor", "executor-config", "verbose", "max-concurrent"}
# Options the runner owns.
RESERVED_OPTIONS = {"out", "overwrite", "help"}
INPUT_ALIASES = ("inputs", "input")
MODEL_MAKERS = {"tiny-model"}  # commands whose folder is the model itself (train's is OUT/<stage>/model)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RecipeError(Exception):
    """A recipe that cannot run as written; the message is one line naming the file and the setting."""


@dataclass
class Stage:
    name: str
    command: tuple[str, ...]  # ("corpus",) or ("train", "sft")
    settings: dict
    out: str
    reads: list[str] = field(default_factory=list)  # earlier stages whose outputs it reads
    pairs: list[tuple[str, list[str]]] = field(default_factory=list)  # (option or "", values) in order
    inline_files: dict[str, dict] = field(default_factory=dict)  # path -> mapping written as YAML
    writes_out: bool = True  # the command has --out (publish writes to the Hub or its --dry-run folder)

    def argv(self) -> list[str]:
        args = list(self.command)
        for option, values in self.pairs:
            if option == "":  # the command's INPUT... argument
                args.extend(values)
            elif not values:  # a flag
                args.append(f"--{option}")
            else:
                for value in values:  # a value that starts with '-' must be glued to its option
                    args.extend([f"--{option}={value}"] if value.startswith("-") else [f"--{option}", value])
        return args + (["--out", self.out] if self.writes_out else [])

    def shell(self) -> str:
        return shlex.join(["langmill", *self.argv()])

    def fingerprint(self) -> list:
        return [list(self.command), [[o, v] for o, v in self.pairs if o not in RUNTIME_OPTIONS], self.inline_files]


@dataclass
class Recipe:
    path: str
    name: str
    description: str
    out: str
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise RecipeError(f"{self.path}: no stage {name!r} (stages: {', '.join(s.name for s in self.stages)})")


# ----------------------------------------------------------------------------------- loading


def _commands() -> dict[tuple[str, ...], click.Command]:
    """Every langmill command a stage may run, by its words."""
    from langmill.cli import main

    found = {}
    for name, command in main.commands.items():
        if name in ("run", "arena"):  # the arena is a service people vote in for days, not a stage that ends
            continue
        if isinstance(command, click.Group):
            found.update({(name, sub): c for sub, c in command.commands.items()})
        else:
            found[(name,)] = command
    return found


def _substitute(value, names: dict[str, str], where: str):
    """${name} in every string of `value` (vars, then the built-ins out, langmill, recipe)."""
    if isinstance(value, str):
        def one(match):
            if match.group(1) not in names:
                raise RecipeError(f"{where}: ${{{match.group(1)}}} is not defined (vars: {', '.join(sorted(names)) or 'none'})")
            return names[match.group(1)]

        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [_substitute(v, names, where) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, names, f"{where}.{k}") for k, v in value.items()}
    return value


def _resolve_vars(path: str, declared: dict, sets: dict[str, str], builtins: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(sets) - set(declared))
    if unknown:
        raise RecipeError(f"--set {unknown[0]}: not a var of {path} (vars: {', '.join(declared) or 'none'})")
    clash = sorted(set(declared) & set(builtins))
    if clash:
        raise RecipeError(f"{path}: vars.{clash[0]}: a built-in name (${{out}}, ${{langmill}}, ${{recipe}} are set by langmill run)")
    for name, value in declared.items():
        if isinstance(value, (dict, list)):
            raise RecipeError(f"{path}: vars.{name}: a single value (a string or number)")
    raw = {k: str(sets.get(k, v)) for k, v in declared.items()}
    values = dict(builtins)
    while raw:  # vars may use each other, in any order
        ready = {k: v for k, v in raw.items() if all(n in values for n in _VAR.findall(v))}
        if not ready:
            name = next(iter(raw))
            missing = [n for n in _VAR.findall(raw[name]) if n not in values and n not in raw]
            raise RecipeError(f"{path}: vars.{name}: " + (f"${{{missing[0]}}} is not defined" if missing else "vars refer to each other in a cycle"))
        for name, value in ready.items():
            values[name] = _VAR.sub(lambda m: values[m.group(1)], value)
            del raw[name]
    return values


def load_recipe(path: str, sets: dict[str, str] | None = None, out: str | None = None) -> Recipe:
    """Read, check and resolve a recipe; every problem is a RecipeError naming the setting."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as err:
        raise RecipeError(f"{path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        # ${var} inside a [flow, list] is YAML's flow-mapping brace: the usual trap
        hint = "; quote values with ${...} inside [ ] lists, or write the list one '- item' per line" if "[${" in open(path, encoding="utf-8").read() else ""
        raise RecipeError(f"{path}: not YAML{line}: {getattr(err, 'problem', None) or str(err).splitlines()[0]}{hint}") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict) or not data["stages"]:
        raise RecipeError(f"{path}: a recipe is a mapping with a `stages:` mapping of at least one stage")
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise RecipeError(f"{path}: unknown key {unknown[0]!r} (a recipe has {', '.join(sorted(TOP_LEVEL_KEYS))})")
    declared = data.get("vars") or {}
    if not isinstance(declared, dict):
        raise RecipeError(f"{path}: vars: a mapping of NAME: value")
    name = str(data.get("name") or Path(path).stem)
    out_dir = out or str(data.get("out") or os.path.join("runs", name))
    builtins = {"langmill": str(PACKAGE_DIR), "recipe": str(Path(path).resolve().parent)}
    builtins["out"] = _substitute(out_dir, builtins, f"{path}: out")
    names = _resolve_vars(path, declared, {k: v for k, v in (sets or {}).items()}, builtins)
    defaults = _substitute(data.get("defaults") or {}, names, f"{path}: defaults")
    if not isinstance(defaults, dict):
        raise RecipeError(f"{path}: defaults: a mapping of option: value")
    commands = _commands()
    stages: list[Stage] = []
    used_defaults: set[str] = set()
    for stage_name, settings in data["stages"].items():
        where = f"{path}: stages.{stage_name}"
        settings = _substitute(settings or {}, names, where)
        if not isinstance(settings, dict):
            raise RecipeError(f"{where}: a mapping of option: value")
        stage = _stage(str(stage_name), settings, defaults, commands, stages, names["out"], where, used_defaults)
        stages.append(stage)
    unused = sorted(set(defaults) - used_defaults)
    if unused:
        raise RecipeError(f"{path}: defaults.{unused[0]}: no stage's command has this option")
    return Recipe(path=path, name=name, description=str(data.get("description") or "").strip(), out=names["out"], stages=stages)


def _stage(name: str, settings: dict, defaults: dict, commands: dict, earlier: list[Stage], out: str, where: str,
           used_defaults: set[str]) -> Stage:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise RecipeError(f"{where}: a stage name is letters, digits, '-', '_' or '.' (it names the folder OUT/{name})")
    settings = {str(k).replace("_", "-"): v for k, v in settings.items()}
    words = tuple(str(settings.pop("run", name)).split())
    if words not in commands:
        known = sorted(" ".join(c) for c in commands)
        raise RecipeError(f"{where}: run: {' '.join(words)!r} is not a langmill command (one of: {', '.join(known)})")
    command = commands[words]
    params = _params(command)
    given = {params[k] for k in settings if k in params}
    for key, value in defaults.items():
        key = str(key).replace("_", "-")
        if key in params:
            used_defaults.add(key)
            if params[key] not in given:  # `to: fi` in a translate stage wins over a default `lang`
                settings[key] = value
                given.add(params[key])
    stage = Stage(name=name, command=words, settings=settings, out=os.path.join(out, name), writes_out="out" in params)
    by_name = {s.name: s for s in earlier}
    seen: dict[click.Parameter, str] = {}
    for key, value in settings.items():
        if key in RESERVED_OPTIONS:
            raise RecipeError(f"{where}.{key}: set by `langmill run` (each stage writes OUT/<stage>; a changed stage starts over)")
        if key not in params:
            close = difflib.get_close_matches(key, list(params), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (see langmill {' '.join(words)} --help)"
            raise RecipeError(f"{where}.{key}: not an option of langmill {' '.join(words)}{hint}")
        param = params[key]
        if param in seen:
            raise RecipeError(f"{where}.{key}: the same option as {seen[param]!r}; give one of them")
        seen[param] = key
        pair = _setting(stage, key, value, param, by_name, f"{where}.{key}", out)
        if pair is not None:
            stage.pairs.append(pair)
    return stage


def _setting(stage: Stage, key: str, value, param: click.Parameter, earlier: dict[str, Stage], where: str, out: str):
    """One setting as (option, values) for the command line, or None when it adds nothing."""
    option = "" if isinstance(param, click.Argument) else next((o[2:] for o in param.opts if o.startswith("--")), key)
    if isinstance(param, click.Option) and param.is_flag:
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: a flag: true or false")
        return (option, []) if value else None
    if isinstance(value, dict):  # inline settings for a file option, written before the stage runs
        if not isinstance(param.type, click.Path):
            raise RecipeError(f"{where}: a mapping is only for file options (config, prompt-file, ...)")
        path = os.path.join(out, "recipe", f"{stage.name}.{key}.yaml")
        stage.inline_files[path] = value
        return option, [path]
    values = value if isinstance(value, list) else [value]
    if not values:
        return None
    many = isinstance(param, click.Argument) and param.nargs == -1 or getattr(param, "multiple", False)
    if len(values) != 1 and not many:
        raise RecipeError(f"{where}: takes one value, not a list")
    return option, [_value(v, param, stage, earlier, where) for v in values]


def _params(command: click.Command) -> dict[str, click.Parameter]:
    """Setting names of a command: its long options without '--' (and the parameter's own name, so
    `lang` is translate's --to), and `inputs` for its argument."""
    names = {}
    for param in command.params:
        if isinstance(param, click.Argument):
            for alias in (param.name.replace("_", "-"), *INPUT_ALIASES):
                names.setdefault(alias, param)
        else:
            for opt in param.opts:
                if opt.startswith("--"):
                    names[opt[2:]] = param
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            names.setdefault(param.name.replace("_", "-"), param)
    return names


def _value(value, param: click.Parameter, stage: Stage, earlier: dict[str, Stage], where: str) -> str:
    """One setting value as a command-line string; an earlier stage's name becomes its output."""
    if isinstance(value, (dict, list)):
        raise RecipeError(f"{where}: a value, not a {type(value).__name__}")
    text = "true" if value is True else "false" if value is False else str(value)
    if isinstance(param.type, (click.types.StringParamType, click.Path)):
        stage_name, _, weight = text.rpartition(":") if _is_weight(text) else (text, "", "")
        if stage_name in earlier:
            if stage_name not in stage.reads:
                stage.reads.append(stage_name)
            return stage_output(earlier[stage_name], stage) + (f":{weight}" if weight else "")
        if text == stage.name:
            raise RecipeError(f"{where}: {text!r} is this stage itself")
        return text
    try:
        param.type.convert(text, param, None)
    except click.BadParameter as err:
        raise RecipeError(f"{where}: {err.message}") from None
    return text


def _is_weight(text: str) -> bool:
    head, sep, tail = text.rpartition(":")
    if not sep or not head:
        return False
    try:
        float(tail)
    except ValueError:
        return False
    return True


def stage_output(producer: Stage, consumer: Stage) -> str:
    """What a stage hands on: publish takes whole folders; a train stage's model/, a tiny-model's
    folder; every other stage its data/ shards."""
    if consumer.command == ("publish",):
        return producer.out
    if producer.command[0] == "train":
        return os.path.join(producer.out, "model")
    if producer.command[0] in MODEL_MAKERS:
        return producer.out
    return os.path.join(producer.out, "data")


# ----------------------------------------------------------------------------------- state


def _file_stamps(stage: Stage, run_out: str) -> dict[str, list[int]]:
    """Size and mtime of the local input files a stage names (other stages' outputs are covered by
    their run ids): a changed input makes the stage run again."""
    stamps: dict[str, list[int]] = {}
    root = os.path.abspath(run_out)
    for option, values in stage.pairs:
        for value in values:
            path = value.rsplit(":", 1)[0] if _is_weight(value) and not os.path.exists(value) else value
            for file in _files(path, root)[:20000]:
                st = os.stat(file)
                stamps[file] = [st.st_size, st.st_mtime_ns]
    return stamps


def _files(path: str, run_root: str) -> list[str]:
    """The files a path, folder or glob names, outside the run's own folder."""
    paths = sorted(glob.glob(path, recursive=True)) if glob.has_magic(path) else [path] if os.path.exists(path) else []
    files = []
    for p in paths:
        if os.path.abspath(p).startswith(run_root + os.sep):
            continue
        files += [p] if os.path.isfile(p) else sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs)
    return files


class RunState:
    """OUT/run-state.json: for each stage, whether it started or finished, with what fingerprint."""

    def __init__(self, out: str):
        self.path = os.path.join(out, STATE_FILE)
        try:
            with open(self.path, encoding="utf-8") as f:
                self.stages = json.load(f).get("stages", {})
        except (OSError, ValueError):
            self.stages = {}

    def fingerprint(self, stage: Stage, run_out: str) -> dict:
        return {"command": stage.fingerprint(), "reads": {r: (self.stages.get(r) or {}).get("run_id") for r in stage.reads},
                "files": _file_stamps(stage, run_out)}

    def finished(self, stage: Stage, fingerprint: dict) -> bool:
        record = self.stages.get(stage.name) or {}
        return (record.get("status") == "finished" and record.get("fingerprint") == fingerprint
                and (os.path.isdir(stage.out) or not stage.writes_out))

    def changed(self, stage: Stage, fingerprint: dict) -> list[str]:
        """What differs from the recorded run of this stage (empty when it never ran or is the same)."""
        record = self.stages.get(stage.name)
        if not record or record.get("fingerprint") == fingerprint:
            return []
        before = record["fingerprint"]
        what = []
        if before.get("command") != fingerprint["command"]:
            what.append("settings")
        what += [f"stage {r} ran again" for r in fingerprint["reads"] if before.get("reads", {}).get(r) != fingerprint["reads"][r]]
        if before.get("files") != fingerprint["files"]:
            what.append("input files")
        return what

    def record(self, stage: Stage, **values) -> None:
        self.stages[stage.name] = {**self.stages.get(stage.name, {}), **values}
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"stages": self.stages}, f, indent=1)
        os.replace(tmp, self.path)


# ----------------------------------------------------------------------------------- running


def select(recipe: Recipe, until: str | None, only: str | None) -> list[Stage]:
    if until and only:
        raise RecipeError("--until and --only: give one of them")
    if only:
        return [recipe.stage(only)]
    if until:
        index = recipe.stages.index(recipe.stage(until))
        return recipe.stages[: index + 1]
    return list(recipe.stages)


def write_inline_files(stage: Stage) -> None:
    for path, mapping in stage.inline_files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(mapping, f, sort_keys=False, allow_unicode=True)


def plan_lines(recipe: Recipe, stages: list[Stage]) -> list[str]:
    """The resolved commands, each under a comment saying whether a run would skip it."""
    state = RunState(recipe.out)
    lines = [f"# recipe {recipe.name} ({recipe.path}): {len(stages)} stage(s) into {recipe.out}"]
    for stage in stages:
        done = state.finished(stage, state.fingerprint(stage, recipe.out))
        reads = f"; reads {', '.join(stage.reads)}" if stage.reads else ""
        lines += [f"# {stage.name}: {'finished (skipped by a run)' if done else 'to run'}{reads}", stage.shell()]
    return lines


def _option(stage: Stage, option: str) -> str | None:
    return next((values[0] for o, values in stage.pairs if o == option and values), None)


def stage_location(stage: Stage) -> str:
    """Where a stage's result is, as the summary shows it."""
    if stage.command == ("publish",):
        dry_run = _option(stage, "dry-run")
        return dry_run if dry_run else f"hub: {_option(stage, 'repo-id')}"
    if stage.command[0] == "train":
        return os.path.join(stage.out, "model")
    return stage.out


def _stage_summary(stage: Stage) -> str:
    """A short what-came-out of a finished stage, read from its records."""
    def read(name):
        try:
            with open(os.path.join(stage.out, name), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    results, stats = read("results.json"), read("stats.json")
    if results and isinstance(results.get("win_rate"), (int, float)):
        low, high = results.get("ci95") or (None, None)
        return f"win rate {results['win_rate']:.2f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None else "")
    if results and isinstance(results.get("score"), (int, float)):
        return f"MT-Bench score {results['score']:.2f}"
    if stats and "kept" in stats:
        return f"{stats['kept']:,} kept, {stats.get('excluded', 0):,} excluded"
    metrics = read("train_metrics.json")
    if metrics:
        loss = (metrics.get("train") or {}).get("train_loss")
        return f"{metrics.get('global_step')} steps" + (f", loss {loss:.3f}" if isinstance(loss, (int, float)) else "")
    if os.path.isfile(os.path.join(stage.out, "config.json")):
        return "model"
    if stage.command == ("publish",):
        return "dry run (nothing uploaded)" if _option(stage, "dry-run") else "uploaded"
    return ""


def _run_command(stage: Stage) -> int:
    """The stage's command in a child process that dies with this one; SIGTERM is passed on."""
    from langmill.executors import die_with_parent

    child = subprocess.Popen([sys.executable, "-m", "langmill.cli", *stage.argv()], preexec_fn=die_with_parent)
    previous = signal.getsignal(signal.SIGTERM)

    def forward(signum, _frame):
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the child got the same Ctrl-C; wait for it to stop cleanly
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def _seconds(s: float) -> str:
    return f"{s:.0f}s" if s < 90 else f"{s // 60:.0f}m{s % 60:02.0f}s"


def run_recipe(recipe: Recipe, stages: list[Stage], echo=click.echo) -> int:
    """Run the selected stages in order; returns the exit code (the failing stage's, or 0)."""
    state = RunState(recipe.out)
    selected = {s.name for s in stages}
    for stage in stages:
        for read in stage.reads:
            if read not in selected and (state.stages.get(read) or {}).get("status") != "finished":
                raise RecipeError(f"stage {stage.name} reads stage {read}, which has not finished: run up to it first (--until {read})")
    os.makedirs(recipe.out, exist_ok=True)
    with open(os.path.join(recipe.out, "commands.sh"), "w", encoding="utf-8") as f:
        f.write("\n".join(plan_lines(recipe, recipe.stages)) + "\n")
    started, rows = time.monotonic(), []
    for number, stage in enumerate(stages, 1):
        fingerprint = state.fingerprint(stage, recipe.out)
        header = f"── {number}/{len(stages)} {stage.name}: langmill {' '.join(stage.command)}"
        if state.finished(stage, fingerprint):
            echo(f"{header}: finished before, skipped ({stage.out})", err=True)
            rows.append((stage, "skipped", None))
            continue
        changed = state.changed(stage, fingerprint)
        if changed and os.path.isdir(stage.out) and stage.writes_out:
            echo(f"{header}: {', '.join(changed)} changed since its last run: starting it over", err=True)
            shutil.rmtree(stage.out)
        elif (state.stages.get(stage.name) or {}).get("status") == "started":
            echo(f"{header}: resuming the interrupted run", err=True)
        else:
            echo(header, err=True)
        echo(f"   {stage.shell()}", err=True)
        write_inline_files(stage)
        state.record(stage, status="started", fingerprint=fingerprint, argv=stage.argv())
        began = time.monotonic()
        code = _run_command(stage)
        if code != 0:
            rows.append((stage, f"failed (exit {code})", time.monotonic() - began))
            _print_summary(recipe, rows, time.monotonic() - started, echo)
            echo(f"langmill: error: stage {stage.name} failed (exit {code}); run the same command again to resume it "
                 f"(finished stages are skipped)", err=True)
            return code
        state.record(stage, status="finished", run_id=uuid.uuid4().hex[:12], seconds=round(time.monotonic() - began, 1))
        rows.append((stage, "ran", time.monotonic() - began))
    _print_summary(recipe, rows, time.monotonic() - started, echo)
    return 0


def _print_summary(recipe: Recipe, rows: list, seconds: float, echo) -> None:
    ran = sum(1 for _, status, _ in rows if status == "ran")
    echo(f"\nRecipe {recipe.name}: {len(rows)} stage(s) in {recipe.out}: {ran} ran, "
         f"{sum(1 for _, s, _ in rows if s == 'skipped')} skipped, in {_seconds(seconds)}", err=True)
    table = [(stage.name, status, _seconds(took) if took is not None else "-", _stage_summary(stage), stage_location(stage)) for stage, status, took in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        echo("  " + "  ".join(cell.rjust(w) if i == 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) + "  " + row[4], err=True)
