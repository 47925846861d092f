"""AR effects on the blank face (FaceEraser, Hua et al. 2021, section 3.5): erase the facial parts, then
paste chosen parts back (moved, scaled, replaced, from another face) with Poisson blending, and place
user pictures (stickers) anchored to the landmarks.

Effects are data: small TOML files (see ``spec``); the built-ins live in ``effects/builtin``.
"""

from .apply import Effect, EffectResult, SkippedFace, apply_effect
from .compose import FaceEffect
from .spec import EffectSpec, builtin_names, list_effects, load_effect, parse_effect

__all__ = ["Effect", "EffectResult", "EffectSpec", "FaceEffect", "SkippedFace", "apply_effect",
           "builtin_names", "list_effects", "load_effect", "parse_effect"]
