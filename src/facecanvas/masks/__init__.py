"""Masks: per-part regions from landmarks, unions, feathering."""

from .parts import PARTS, face_region, feather, grow, mask_box, parse_parts, part_mask, part_masks, union

__all__ = ["PARTS", "face_region", "feather", "grow", "mask_box", "parse_parts", "part_mask", "part_masks", "union"]
