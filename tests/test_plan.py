"""The planner: phases, ``after`` needs, cycles, conflicts and manifest patches merged by name."""

from __future__ import annotations

import shlex

import pytest
import yaml

from blockc import testing
from blockc.compiler.explain import explain
from blockc.testing import template
from blockc.types import (
    App,
    BlockType,
    ContextFile,
    Contributions,
    Copy,
    Fixed,
    ManifestPatch,
    Phase,
    Run,
    Step,
)

OPEN = {"type": "object", "additionalProperties": True}


def echo_type(name, phase=Phase.CONFIG, after=(), **extra):
    """A block type whose step is ``echo <block id>`` in ``phase``."""

    def contribute(ctx):
        return Contributions(steps=[Step(phase, [Run([("echo", ctx.id)])])], **extra)

    return BlockType(name, OPEN, contribute, after=after)


def run_lines(result):
    return [
        shlex.split(line[4:])
        for line in result.text("Containerfile").splitlines()
        if line.startswith("RUN ")
    ]


def echoed(result):
    return [words[1] for words in run_lines(result) if words[0] == "echo"]


def test_phases_order_slow_steps_first(tmp_path):
    reg = testing.register_block_type(
        echo_type("launchy", Phase.FILES),
        echo_type("configy", Phase.CONFIG),
        echo_type("appy", Phase.APP),
        echo_type("runtimey", Phase.RUNTIME),
        echo_type("systemy", Phase.SYSTEM),
    )
    t = template(*({"type": n} for n in ("launchy", "configy", "appy", "runtimey", "systemy")))
    r = testing.compile_template(t, tmp_path, registry=reg)
    assert r.ok, r.messages
    assert echoed(r) == ["systemy", "runtimey", "appy", "configy", "launchy"]


def test_core_blocks_land_in_their_phases(compile_t):
    t = template(
        {"type": "files", "with": {"files": [{"src": "a.txt", "dest": "/home/studio/a.txt"}]}},
        {"type": "python-packages", "with": {"packages": ["numpy"]}},
        {"type": "dockerfile", "with": {"instructions": "RUN echo configured"}},
        {"type": "system-packages", "with": {"apt": ["git"]}},
    )
    r = compile_t(t, files={"a.txt": "hello"})
    assert r.ok, r.messages
    cf = r.text("Containerfile")
    order = [
        cf.index(s)
        for s in (
            "apt-install git",
            "pip install",
            "echo configured",
            "context/blocks/files/0-a.txt",
        )
    ]
    assert order == sorted(order)
    assert cf.index("# --- blockc: phase base") < order[0]
    assert cf.index("# --- blockc: phase launch") > order[-1]


def test_template_order_holds_within_a_phase(tmp_path):
    reg = testing.register_block_type(echo_type("step"))
    t = template(*({"type": "step", "id": i} for i in ("c", "a", "b")))
    assert echoed(testing.compile_template(t, tmp_path, registry=reg)) == ["c", "a", "b"]


def test_after_needs_move_a_block_after_another(tmp_path):
    reg = testing.register_block_type(
        echo_type("early"), echo_type("late", after=("early",)), echo_type("other")
    )
    t = template({"type": "late"}, {"type": "other"}, {"type": "early"})
    r = testing.compile_template(t, tmp_path, registry=reg)
    assert r.ok, r.messages
    assert echoed(r) == ["other", "early", "late"]


def test_after_an_absent_type_is_ignored(tmp_path):
    reg = testing.register_block_type(echo_type("late", after=("nowhere",)))
    assert echoed(testing.compile_template(template({"type": "late"}), tmp_path, registry=reg)) == [
        "late"
    ]


def test_python_packages_after_system_packages(compile_t):
    t = template(
        {"type": "python-packages", "with": {"packages": ["numpy"]}},
        {"type": "system-packages", "with": {"apt": ["git"]}},
    )
    cf = compile_t(t).text("Containerfile")
    assert cf.index("apt-install git") < cf.index("pip install")


def test_any_accepted_order_gives_the_same_containerfile(compile_t, tmp_path):
    a = {"type": "python-packages", "with": {"packages": ["numpy"]}}
    b = {"type": "system-packages", "with": {"apt": ["git"]}}
    one = testing.compile_template(template(a, b), tmp_path / "1")
    two = testing.compile_template(template(b, a), tmp_path / "2")
    assert one.text("Containerfile") == two.text("Containerfile")


def test_cycle_is_an_error_naming_the_blocks(tmp_path):
    reg = testing.register_block_type(
        echo_type("hen", after=("egg",)), echo_type("egg", after=("hen",)), echo_type("fine")
    )
    t = template({"type": "fine"}, {"type": "hen", "id": "h"}, {"type": "egg", "id": "e"})
    r = testing.compile_template(t, tmp_path, registry=reg)
    assert not r.ok
    (d,) = r.diagnostics
    assert "ordering cycle" in d.message
    assert "'h' (hen)" in d.message and "'e' (egg)" in d.message and "'fine'" not in d.message
    assert d.line and d.col


def test_reserved_phases_are_refused(tmp_path):
    reg = testing.register_block_type(
        echo_type("sneaky", Phase.BASE), echo_type("sneakier", Phase.LAUNCH)
    )
    r = testing.compile_template(
        template({"type": "sneaky"}, {"type": "sneakier"}), tmp_path, registry=reg
    )
    assert [d.block_id for d in r.diagnostics] == ["sneaky", "sneakier"]
    assert all("reserved for blockc" in d.message for d in r.diagnostics)


# --- conflicts -----------------------------------------------------------------------------


def env_type(name, env):
    return BlockType(name, OPEN, lambda ctx: Contributions(env=env))


def test_env_conflict_names_both_blocks(tmp_path):
    reg = testing.register_block_type(
        env_type("one", {"TZ": "UTC", "A": "1"}), env_type("two", {"TZ": "Europe/Paris", "A": "1"})
    )
    r = testing.compile_template(template({"type": "one"}, {"type": "two"}), tmp_path, registry=reg)
    (d,) = r.diagnostics
    assert d.block_id == "two" and "'Europe/Paris'" in d.message and "'one'" in d.message


def test_env_conflict_names_both_blocks_and_how_to_choose(tmp_path):
    reg = testing.register_block_type(env_type("one", {"TZ": "UTC"}), env_type("two", {"TZ": "X"}))
    r = testing.compile_template(template({"type": "one"}, {"type": "two"}), tmp_path, registry=reg)
    (d,) = r.diagnostics
    assert d.hint == "choose one: set TZ in spec.env"
    r = testing.compile_template(
        template({"type": "one"}, {"type": "two"}, env={"TZ": "Asia/Tokyo"}), tmp_path, registry=reg
    )
    assert r.ok, r.messages
    assert r.artifact.studio["env"]["TZ"] == "Asia/Tokyo"


def test_the_admins_env_wins_and_explain_shows_it(tmp_path):
    reg = testing.register_block_type(env_type("one", {"OMP_NUM_THREADS": "4", "A": "1"}))
    r = testing.compile_template(
        template({"type": "one"}, env={"OMP_NUM_THREADS": "1"}), tmp_path, registry=reg
    )
    assert r.ok, r.messages
    assert r.artifact.studio["env"] == {"A": "1", "OMP_NUM_THREADS": "1"}
    assert r.artifact.studio["provenance"]["env"]["OMP_NUM_THREADS"] == "template"
    (o,) = r.artifact.studio["provenance"]["overrides"]
    assert o == {
        "field": "env OMP_NUM_THREADS",
        "value": "1",
        "replaced": "4",
        "block": "one",
        "by": "spec.env",
    }
    container = r.artifact.manifests[0]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "OMP_NUM_THREADS", "value": "1"} in container["env"]
    text = explain(r.artifact)
    assert "## Overrides" in text
    assert "env OMP_NUM_THREADS: '1', not the plugin's '4' (set in spec.env)" in text


def test_a_fixed_env_value_is_a_conflict_at_the_admins_field(tmp_path):
    reg = testing.register_block_type(env_type("one", {"LANG": Fixed("C.UTF-8")}))
    t = "\n".join(
        [
            "apiVersion: blockc/v1",
            "kind: StudioTemplate",
            "metadata: {name: t}",
            "spec:",
            "  image: {base: localhost/base}",
            "  env:",
            "    LANG: fr_FR",
            "  blocks: [{type: one}]",
        ]
    )
    (d,) = testing.compile_template(t, tmp_path, registry=reg).diagnostics
    assert (d.line, d.col) == (7, 11)
    assert "block 'one' (one) needs it to be 'C.UTF-8', not 'fr_FR'" in d.message
    assert d.hint == "remove LANG from spec.env"
    r = testing.compile_template(t.replace("fr_FR", "C.UTF-8"), tmp_path, registry=reg)
    assert r.ok, r.messages


def test_same_env_value_twice_is_fine(tmp_path):
    reg = testing.register_block_type(
        env_type("one", {"TZ": "UTC"}), env_type("two", {"TZ": "UTC"})
    )
    r = testing.compile_template(
        template({"type": "one"}, {"type": "two"}, env={"TZ": "UTC"}), tmp_path, registry=reg
    )
    assert r.ok and r.artifact.studio["env"]["TZ"] == "UTC"
    assert r.artifact.studio["provenance"]["env"]["TZ"] == "template"


def test_block_env_reserved_prefix(tmp_path):
    reg = testing.register_block_type(env_type("one", {"BLOCKC_STUDIO": "x"}))
    (d,) = testing.compile_template(template({"type": "one"}), tmp_path, registry=reg).diagnostics
    assert "reserved" in d.message


def test_app_id_clash_between_blocks(tmp_path):
    def two_apps(ctx):
        return Contributions(apps=[App(id="web", port=9000 + len(ctx.id))])

    reg = testing.register_block_type(BlockType("dup", OPEN, two_apps))
    r = testing.compile_template(
        template({"type": "dup", "id": "a"}, {"type": "dup", "id": "bb"}), tmp_path, registry=reg
    )
    (d,) = r.diagnostics
    assert "app id 'web' is also used by block 'a'" in d.message and d.block_id == "bb"


def test_context_files_stay_in_the_blocks_directory(tmp_path):
    def rogue(ctx):
        return Contributions(files=[ContextFile("blockc/launch.py", b"evil")])

    reg = testing.register_block_type(BlockType("rogue", OPEN, rogue))
    (d,) = testing.compile_template(template({"type": "rogue"}), tmp_path, registry=reg).diagnostics
    assert "outside the block's own directory" in d.message


def test_copy_of_a_file_nobody_wrote(tmp_path):
    def copier(ctx):
        return Contributions(steps=[Step(Phase.CONFIG, [Copy("blocks/x/nope", "/etc/nope")])])

    reg = testing.register_block_type(BlockType("copier", OPEN, copier))
    r = testing.compile_template(template({"type": "copier"}), tmp_path, registry=reg)
    (d,) = r.diagnostics
    assert "no block wrote" in d.message and d.block_id == "copier"


def test_control_characters_from_a_plugin_are_refused_and_located(tmp_path):
    """A plugin that forgets to validate still cannot break a Containerfile line."""

    def careless(ctx):
        return Contributions(steps=[Step(Phase.CONFIG, [Run([("echo", ctx.options["msg"])])])])

    reg = testing.register_block_type(BlockType("careless", OPEN, careless))
    r = testing.compile_template(
        template({"type": "careless", "with": {"msg": "a\nFROM evil"}}), tmp_path, registry=reg
    )
    (d,) = r.diagnostics
    assert "control character" in d.message
    assert d.block_id == "careless" and d.line and d.col


# --- manifest patches ----------------------------------------------------------------------


def patch_type(name, *patches):
    return BlockType(name, OPEN, lambda ctx: Contributions(patches=list(patches)))


def deployment(result):
    return next(
        o for o in yaml.safe_load_all(result.text("manifests.yaml")) if o["kind"] == "Deployment"
    )


def test_patches_merge_lists_by_name(tmp_path):
    reg = testing.register_block_type(
        patch_type(
            "cache",
            ManifestPatch("pod", {"volumes": [{"name": "cache", "emptyDir": {}}]}),
            ManifestPatch(
                "container",
                {
                    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                    "env": [{"name": "CACHE_DIR", "value": "/cache"}],
                },
            ),
        ),
        patch_type(
            "data",
            ManifestPatch("pod", {"volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}]}),
            ManifestPatch(
                "container",
                {
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "env": [{"name": "DATA_DIR", "value": "/data"}],
                },
            ),
        ),
    )
    r = testing.compile_template(
        template({"type": "cache"}, {"type": "data"}), tmp_path, registry=reg, strict=True
    )
    assert r.ok, r.messages
    pod = deployment(r)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert [v["name"] for v in pod["volumes"]] == ["cache", "data"]
    assert [m["name"] for m in container["volumeMounts"]] == ["cache", "data"]
    env = {e["name"] for e in container["env"]}
    assert {"CACHE_DIR", "DATA_DIR"} <= env
    owners = r.artifact.studio["provenance"]["manifests"]
    assert owners["Deployment.spec.template.spec.volumes[cache]"] == "cache"
    assert owners["Deployment.spec.template.spec.volumes[data]"] == "data"


def test_patches_to_one_named_item_merge_recursively(tmp_path):
    reg = testing.register_block_type(
        patch_type("a", ManifestPatch("pod", {"volumes": [{"name": "v", "emptyDir": {}}]})),
        patch_type(
            "b",
            ManifestPatch("pod", {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}]}),
        ),
    )
    r = testing.compile_template(template({"type": "a"}, {"type": "b"}), tmp_path, registry=reg)
    assert r.ok, r.messages
    (vol,) = deployment(r)["spec"]["template"]["spec"]["volumes"]
    assert vol == {"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}


def test_conflicting_scalar_names_both_blocks(tmp_path):
    reg = testing.register_block_type(
        patch_type(
            "a",
            ManifestPatch("pod", {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "2Gi"}}]}),
        ),
        patch_type(
            "b",
            ManifestPatch("pod", {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi"}}]}),
        ),
    )
    r = testing.compile_template(template({"type": "a"}, {"type": "b"}), tmp_path, registry=reg)
    (d,) = r.diagnostics
    assert d.block_id == "b"
    assert "volumes[v].emptyDir.sizeLimit" in d.message
    assert "'1Gi' here and to '2Gi' by 'a'" in d.message


def test_patch_conflicting_with_blockc_names_blockc(tmp_path):
    reg = testing.register_block_type(
        patch_type("root", ManifestPatch("container", {"securityContext": {"runAsUser": 0}}))
    )
    (d,) = testing.compile_template(template({"type": "root"}), tmp_path, registry=reg).diagnostics
    assert "runAsUser" in d.message and "by 'blockc'" in d.message


def test_two_kubernetes_blocks(compile_t):
    r = compile_t(
        template(
            {
                "type": "kubernetes",
                "id": "k1",
                "with": {"serviceAccountName": "one", "labels": {"team": "data"}},
            },
            {
                "type": "kubernetes",
                "id": "k2",
                "with": {"serviceAccountName": "two", "labels": {"cost": "lab"}},
            },
        )
    )
    (d,) = r.diagnostics
    assert d.block_id == "k2" and "serviceAccountName" in d.message and "'k1'" in d.message


def test_two_kubernetes_blocks_that_agree(compile_t):
    r = compile_t(
        template(
            {
                "type": "kubernetes",
                "id": "k1",
                "with": {"labels": {"team": "data"}, "imagePullSecrets": ["a"]},
            },
            {
                "type": "kubernetes",
                "id": "k2",
                "with": {"labels": {"cost": "lab"}, "imagePullSecrets": ["b"]},
            },
        ),
        strict=True,
    )
    assert r.ok, r.messages
    dep = deployment(r)
    assert {"team": "data", "cost": "lab"}.items() <= dep["metadata"]["labels"].items()
    assert dep["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "a"}, {"name": "b"}]


@pytest.mark.parametrize("target", ["deployment", "pod", "container", "service"])
def test_every_patch_target(tmp_path, target):
    patch = {
        "deployment": {"metadata": {"annotations": {"x": "1"}}},
        "pod": {"hostname": "studio"},
        "container": {"stdin": True},
        "service": {"metadata": {"annotations": {"y": "2"}}},
    }[target]
    reg = testing.register_block_type(patch_type("p", ManifestPatch(target, patch)))
    r = testing.compile_template(template({"type": "p"}), tmp_path, registry=reg, strict=True)
    assert r.ok, r.messages
    assert r.artifact.studio["provenance"]["manifests"]


def k8s_template(plugin_type, selector):
    return "\n".join(
        [
            "apiVersion: blockc/v1",
            "kind: StudioTemplate",
            "metadata: {name: t}",
            "spec:",
            "  image: {base: localhost/base}",
            "  blocks:",
            f"    - type: {plugin_type}",
            "    - type: kubernetes",
            "      with:",
            f"        nodeSelector: {selector}",
        ]
    )


def test_the_admins_manifest_fields_win_over_a_plugins(tmp_path):
    gpu = patch_type("gpu", ManifestPatch("pod", {"nodeSelector": {"disk": "ssd", "gpu": "yes"}}))
    reg = testing.register_block_type(gpu)
    r = testing.compile_template(k8s_template("gpu", "{disk: hdd}"), tmp_path, registry=reg)
    assert r.ok, r.messages
    pod = deployment(r)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "hdd", "gpu": "yes"}
    field = "Deployment.spec.template.spec.nodeSelector.disk"
    assert r.artifact.studio["provenance"]["overrides"] == [
        {"field": field, "value": "hdd", "replaced": "ssd", "block": "gpu", "by": "kubernetes"}
    ]
    assert (
        r.artifact.studio["provenance"]["manifests"]["Deployment.spec.template.spec.nodeSelector"]
        == "kubernetes"
    )
    assert f"{field}: 'hdd', not the plugin's 'ssd' (set by block 'kubernetes')" in explain(
        r.artifact
    )


def test_a_fixed_manifest_field_is_a_conflict_at_the_admins_option(tmp_path):
    gpu = patch_type("gpu", ManifestPatch("pod", {"nodeSelector": {"disk": Fixed("ssd")}}))
    reg = testing.register_block_type(gpu)
    text = k8s_template("gpu", "{disk: hdd}")
    (d,) = testing.compile_template(text, tmp_path, registry=reg).diagnostics
    assert (d.line, d.col) == (10, 23) and d.block_id == "kubernetes"
    assert "needs 'ssd'" in d.message and "'hdd' here" in d.message
    r = testing.compile_template(k8s_template("gpu", "{disk: ssd}"), tmp_path, registry=reg)
    assert r.ok, r.messages
    assert "overrides" not in r.artifact.studio["provenance"]


def test_a_fixed_list_item_is_a_conflict_with_the_admins_value(tmp_path):
    studio = {"name": "studio", "resources": {"limits": {"cpu": "2"}}}
    needs = patch_type("needs", ManifestPatch("pod", {"containers": [Fixed(studio)]}))
    reg = testing.register_block_type(needs)
    text = "\n".join(
        [
            "apiVersion: blockc/v1",
            "kind: StudioTemplate",
            "metadata: {name: t}",
            "spec:",
            "  image: {base: localhost/base}",
            "  blocks:",
            "    - type: needs",
            "    - type: kubernetes",
            "      with: {resources: {limits: {cpu: '1'}}}",
        ]
    )
    (d,) = testing.compile_template(text, tmp_path, registry=reg).diagnostics
    assert d.block_id == "kubernetes" and "needs '2'" in d.message


def test_provides_beyond_the_type_is_a_plugin_error(tmp_path):
    liar = BlockType("liar", OPEN, lambda ctx: Contributions(provides=["r"]))
    needs_r = BlockType("needs-r", OPEN, lambda ctx: Contributions(), requires=("r",))
    reg = testing.register_block_type(liar, needs_r)
    r = testing.compile_template(
        template({"type": "liar"}, {"type": "needs-r"}), tmp_path, registry=reg
    )
    messages = " ".join(r.messages)
    assert "provides r, which its block type does not declare" in messages
    assert "needs r, which nothing in this template provides" in messages


def test_no_hint_to_set_a_fixed_value_in_spec_env(tmp_path):
    reg = testing.register_block_type(
        env_type("plain", {"LANG": "x"}), env_type("needs", {"LANG": Fixed("C.UTF-8")})
    )
    r = testing.compile_template(
        template({"type": "plain"}, {"type": "needs"}), tmp_path, registry=reg
    )
    (d,) = r.diagnostics
    assert d.hint is None and "'C.UTF-8' here and to 'x'" in d.message
