"""``alink profiles``: the profiles ``--profile NAME`` can name, and where they are."""

from __future__ import annotations

from ..client import load_profiles, profiles_path

__all__ = ["listing"]


def listing() -> list[str]:
    """A line per profile: name, URL, transfer, where its token comes from.

    Tokens themselves are never shown.

    Raises:
        ProfileError: the profiles file is broken.
    """
    path = profiles_path()
    profiles = load_profiles()
    lines = [f"profiles file: {path}{'' if path.is_file() else ' (none yet)'}"]
    width = max(len(name) for name in profiles)
    url_width = max(len(p.url) for p in profiles.values())
    for name in sorted(profiles):
        profile = profiles[name]
        origin = "built in" if profile.source is None else str(profile.source)
        transfer = profile.transfer or "none"
        lines.append(
            f"  {name:<{width}}  {profile.url:<{url_width}}  transfer: {transfer:<4}"
            f"  token: {profile.describe_token()}  ({origin})"
        )
    return lines
