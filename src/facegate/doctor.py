"""What ``facegate doctor`` checks: the OpenCV build, each model file, the vault key."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from facegate.config import Settings, load_settings
from facegate.errors import FaceGateError, ModelMissing
from facegate.models import MODELS, resolve

OPENCV_DISTRIBUTIONS = (
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _opencv() -> list[Check]:
    import cv2

    installed = []
    for dist in OPENCV_DISTRIBUTIONS:
        try:
            installed.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    major = int(cv2.__version__.split(".")[0])
    return [
        Check("opencv loaded", major == 4, f"cv2 {cv2.__version__} from {cv2.__file__}"),
        Check(
            "opencv distributions",
            len(installed) == 1,
            ", ".join(installed)
            + ("" if len(installed) == 1 else " (exactly one must be installed)"),
        ),
    ]


def run_checks() -> list[Check]:
    """Every check, never raising: a failure becomes a row with the fix in its detail."""
    checks = _opencv()
    try:
        settings = load_settings()
    except FaceGateError as exc:
        return [*checks, Check("settings", False, str(exc))]
    checks.append(Check("home", True, str(settings.home)))
    for name in MODELS:
        try:
            model = resolve(name, settings)
            checks.append(
                Check(
                    f"model {name}",
                    True,
                    f"{model.path} ({model.origin}, sha256 {model.spec.sha256} verified)",
                )
            )
        except ModelMissing as exc:
            extra = MODELS[name].extra
            if extra is None or name in settings.model_paths:
                checks.append(Check(f"model {name}", False, str(exc)))
            else:
                # Only the comparison baselines use it; unlock never does.
                checks.append(
                    Check(
                        f"model {name}",
                        True,
                        f"not installed (optional: the {extra!r} extra, {MODELS[name].purpose})",
                    )
                )
        except FaceGateError as exc:
            checks.append(Check(f"model {name}", False, str(exc)))
    checks.append(_key_source(settings))
    return checks + _login_service()


def _key_source(settings: Settings) -> Check:
    from facegate.vault.keys import describe_source

    try:
        return Check("vault key source", True, describe_source(settings))
    except FaceGateError as exc:
        return Check("vault key source", False, str(exc))


def _login_service() -> list[Check]:
    """The login service's configuration, key and the cameras it could use."""
    from facegate.system.camera import camera_problem
    from facegate.system.cameras import list_cameras
    from facegate.system.config import load_config
    from facegate.system.key_protection import available_sealing, describe_key_protection
    from facegate.system.paths import SystemPaths

    paths = SystemPaths()
    checks = []
    try:
        config = load_config(paths.config_file)
        where = str(paths.config_file) + ("" if paths.config_file.exists() else " absent")
        checks.append(Check("login config", True, f"{where}: camera {config.camera}"))
        problem = camera_problem(config.camera)
        if problem is not None:
            checks.append(Check("login camera", False, problem))
    except FaceGateError as exc:
        checks.append(Check("login config", False, str(exc)))
    protection = describe_key_protection(paths.key_file, paths.sealed_key_file, available_sealing())
    checks.append(Check("login vault key", True, protection))
    cameras = list_cameras()
    for cam in cameras:
        detail = f"/dev/video{cam.index} {cam.name!r}" + (
            f" = {cam.stable_path}" if cam.stable_path else ""
        )
        detail += ": opens" if cam.opens else ": does not open (busy, or a metadata node)"
        if cam.looks_infrared:
            detail += ", looks infrared"
        # Informational: laptops expose nodes that never open, which is not a fault.
        checks.append(Check(f"camera {cam.index}", True, detail))
    if not cameras:
        checks.append(Check("cameras", True, "no /dev/videoN on this machine"))
    return checks
