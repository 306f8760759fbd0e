"""An env value with `$(…)` reaches the studio as written (issue 13, point 12): the manifests
double each `$` for Kubernetes (which expands `$(VAR)`), the podman runtime halves them for
`podman kube play` (which expands nothing)."""

from __future__ import annotations

from blockc import testing


def test_env_values_reach_the_studio_literally(tmp_path):
    values = {"SUBST": "a$(HOME)b", "DOUBLE": "x$$y", "PLAIN": "p$q"}
    data = testing.template(
        {
            "type": "app",
            "id": "web",
            "with": {"command": ["sleep", "infinity"], "port": 8000, "health": "/"},
        },  # fmt: skip
        base=testing.LOCAL_BASE,
        env=values,
    )
    data["spec"]["blocks"][0]["type"] = "port"
    data["spec"]["blocks"][0]["with"] = {"port": 8000}
    path = testing.write_template(tmp_path / "t", data)
    with testing.run_studio(path, home=tmp_path / "home") as studio:
        for name, value in values.items():
            got = studio.exec("printenv", name)
            assert got.stdout == value + "\n", (name, got.stdout, got.stderr)
