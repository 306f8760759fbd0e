"""Site settings (SPEC §8): ``$BLOCKC_HOME/config.toml`` or ``--config FILE``, each key also
as an env var ``BLOCKC_<KEY>`` (the env var wins)."""

from __future__ import annotations

import os

from ..errors import BlockcError
from ..home import home_dir
from ..value import Value


class Settings(Value):
    ca_bundle: str | None = None
    pip_index_url: str | None = None
    npm_registry: str | None = None
    apt_mirror: str | None = None
    registry: str | None = None
    isolation: str = "chroot"
    runtime: str = "podman"
    kubeconfig: str | None = None
    namespace: str = "default"
    pull: str = "missing"  # buildah pull policy: always | missing | never
    containers_conf: str | None = None  # a containers.conf for podman/buildah (CONTAINERS_CONF)
    plugins: str | None = None  # which plugins load, as --plugins says (BLOCKC_PLUGINS)
    # what a pull may write on the host, per zone (a size: 4G, 512M, bytes; none: no limit;
    # unset: blockc/sync/limits.py's defaults); a zone's limits in its template override the
    # first two
    sync_max_file: str | None = None  # the largest file (default 4G)
    sync_max_total: str | None = None  # the bytes of one sync (default 16G)
    sync_min_free: str | None = None  # left free on the host (default 2G, or 5% if smaller)
    sync_max_entries: str | None = None  # files and directories one sync makes (100000)
    # the front door (blockc serve, SPEC §9)
    authenticator: str = "local"  # who users are: local, trusted-header, or a plugin's
    trusted_header: str = "X-Forwarded-User"  # (trusted-header) the header naming the user
    trusted_proxies: str | None = None  # (trusted-header) addresses/networks that may set it
    admins_enter: str = "false"  # admins may open other users' studios (true/false)
    idle_timeout: str | None = None  # stop a studio idle this long (e.g. 2h, 30m; none: never)
    # the port the apps are served on, an origin of their own (default: the front door's
    # port + 1; "off": on the front door's own, where an app's page could act as its viewer)
    apps_port: str | None = None
    # the public addresses of the two, when a proxy maps them (default: the host the browser
    # used, with the ports blockc serve listens on)
    site_url: str | None = None
    apps_url: str | None = None

    def effective_ca_bundle(self) -> str | None:
        """The CA bundle mounted into build steps: the setting, or by default the host's own
        trust store when it exists ("none" turns it off)."""
        if self.ca_bundle == "none":
            return None
        if self.ca_bundle:
            if not os.path.isfile(self.ca_bundle):
                raise BlockcError(f"setting ca_bundle: {self.ca_bundle} is not a file")
            return self.ca_bundle
        default = "/etc/ssl/certs/ca-certificates.crt"
        return default if os.path.isfile(default) else None


MAX_CONFIG = 1024 * 1024


def load_settings(config: str | None = None) -> Settings:
    path = config if config else os.path.join(home_dir(), "config.toml")
    data: dict = {}
    if os.path.exists(path):
        import tomllib  # only with a config file: `blockc sync`'s budget (tests/test_imports.py)

        from ..readfile import read_regular

        try:
            raw = read_regular(path, MAX_CONFIG)
            if len(raw) > MAX_CONFIG:
                raise BlockcError(f"{path}: larger than 1 MiB; not a config file")
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BlockcError(f"{path}: invalid TOML: {exc}") from None
        except OSError as exc:
            raise BlockcError(f"{path}: cannot read the config file: {exc.strerror}") from None
    elif config:
        raise BlockcError(f"{path}: config file not found")
    known = set(Settings._fields)
    unknown = sorted(set(data) - known)
    if unknown:
        raise BlockcError(
            f"{path}: unknown setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    for name in known:
        env = os.environ.get(f"BLOCKC_{name.upper()}")
        if env:
            data[name] = env
    for name, value in data.items():
        if value is not None and not isinstance(value, str):
            raise BlockcError(f"{path}: setting '{name}' must be a string")
    settings = Settings(**data)
    if settings.runtime not in ("podman", "kubernetes"):
        raise BlockcError(
            f"setting 'runtime' must be podman or kubernetes, not {settings.runtime!r}"
        )
    if settings.pull not in ("always", "missing", "never", "newer"):
        raise BlockcError("setting 'pull' must be always, missing, never or newer")
    return settings


def container_env(settings: Settings) -> dict:
    """The environment for podman and buildah: the site's containers.conf, unless the caller
    set CONTAINERS_CONF itself."""
    env = dict(os.environ)
    if settings.containers_conf and "CONTAINERS_CONF" not in os.environ:
        env["CONTAINERS_CONF"] = os.path.realpath(settings.containers_conf)
    return env
