"""`langmill run` (a recipe file, stage after stage) and `langmill tiny-model` (the demo's model):
options -> langmill.recipe / langmill.tiny_model (no logic of their own)."""

from __future__ import annotations

import importlib.util
import sys

import click

from langmill.cli import _fail


def _sets(pairs) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            _fail(f"--set {pair}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


@click.command(name="run")
@click.argument("recipe_path", metavar="RECIPE.yaml", type=click.Path(dir_okay=False))
@click.option("--print", "print_only", is_flag=True, help="Print the resolved command of every stage (and whether a run would skip it), run nothing.")
@click.option("--until", metavar="STAGE", help="Run the stages up to and including STAGE.")
@click.option("--only", metavar="STAGE", help="Run STAGE alone (the stages it reads must have finished).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override one of the recipe's vars, e.g. --set base_model=/models/llama; repeat.")
@click.option("--out", help="Base output folder instead of the recipe's `out:` (each stage writes OUT/<stage>).")
def run(recipe_path, print_only, until, only, sets, out):
    """Run a recipe: every stage of a paper's pipeline from one YAML file.

    A recipe names its stages in order; each runs a langmill command (corpus, translate, qc,
    magpie, synth, prefs, train cpt|sft|dpo, eval winrate|mtbench, publish, tiny-model) with the
    settings under it, writing OUT/<stage>/. A setting that names an earlier stage reads its
    output: `inputs: [corpus]` is OUT/corpus/data, `model: sft` is OUT/sft/model. ${name} is one
    of the recipe's `vars:` (change them with --set), ${out}, ${langmill} (the package folder,
    for its sample data) or ${recipe} (the recipe's folder).

    Rerun the same command after a stop: finished stages are skipped (OUT/run-state.json) and a
    killed stage resumes where it was. A stage whose settings, input files or upstream stages
    changed since it finished starts over, and so do the stages after it that read it.

    \b
    Examples:
      langmill run recipes/demo.yaml
      langmill run --print recipes/poro-finnish.yaml --set base_model=/models/poro
      langmill run recipes/latxa-basque.yaml --until cpt
    """
    from langmill.recipe import RecipeError, load_recipe, plan_lines, run_recipe, select

    try:
        recipe = load_recipe(recipe_path, _sets(sets), out)
        stages = select(recipe, until, only)
        if print_only:
            click.echo("\n".join(plan_lines(recipe, stages)))
            return
        code = run_recipe(recipe, stages)
    except RecipeError as err:
        _fail(str(err))
    sys.exit(code)


@click.command(name="tiny-model", context_settings={"show_default": True})
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder of the model (config, safetensors, tokenizer with a chat template).")
def tiny_model(out):
    """Build a tiny random Llama chat model offline (2 layers, 1,500-token BPE vocabulary).

    Its text is noise; it exists so that every stage (vLLM generation, judging, TRL training) runs
    end to end on a small CPU with nothing downloaded: the demo recipe and the tests use it. An
    existing model in OUT is kept.
    """
    missing = [name for name in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(name) is None]
    if missing:
        _fail(f"langmill tiny-model needs torch, transformers and tokenizers ({', '.join(missing)} missing): pip install 'langmill[train]'")
    from langmill.tiny_model import build_tiny_model

    click.echo(f"Tiny model in {build_tiny_model(out)}", err=True)
