"""Named groups of MediaPipe face-mesh landmark indices (478-point mesh, refined eyes and lips).

"left"/"right" follow MediaPipe: the subject's left, which is on the image's right side.
"""

from __future__ import annotations

NUM_LANDMARKS = 478

RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)

# Eye contour plus the ring around it (lid crease, lower lid), so the mask covers lashes and lids.
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
             247, 30, 29, 27, 28, 56, 190, 130, 25, 110, 24, 23, 22, 26, 112, 243)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
            467, 260, 259, 257, 258, 286, 414, 359, 255, 339, 254, 253, 252, 256, 341, 463)
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)

NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 48, 64, 115, 220, 45, 275,
        440, 344, 278, 294, 129, 358, 49, 279, 102, 331, 240, 460)

LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
# Every mesh point of the lips (outer line, inner line and the points between): the points on or inside
# the outer lip line of the mean face (grown by 5 % of the eye distance), 80 of them.
LIPS_AREA = (0, 11, 12, 13, 14, 15, 16, 17, 37, 38, 39, 40, 41, 42, 61, 62, 72, 73, 74, 76, 77, 78, 80, 81,
             82, 84, 85, 86, 87, 88, 89, 90, 91, 95, 96, 146, 178, 179, 180, 181, 183, 184, 185, 191, 267,
             268, 269, 270, 271, 272, 291, 292, 302, 303, 304, 306, 307, 308, 310, 311, 312, 314, 315, 316,
             317, 318, 319, 320, 321, 324, 325, 375, 402, 403, 404, 405, 407, 408, 409, 415)

# Closed outline, clockwise from the top of the forehead.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

# Skin between the brows and the top of the face oval.
FOREHEAD = (21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 300, 293, 334, 296, 336, 9,
            107, 66, 105, 63, 70)

GROUPS: dict[str, tuple[int, ...]] = {
    "right_brow": RIGHT_BROW,
    "left_brow": LEFT_BROW,
    "right_eye": RIGHT_EYE,
    "left_eye": LEFT_EYE,
    "right_iris": RIGHT_IRIS,
    "left_iris": LEFT_IRIS,
    "nose": NOSE,
    "lips": LIPS,
    "inner_lips": INNER_LIPS,
    "face_oval": FACE_OVAL,
    "forehead": FOREHEAD,
}

# Five alignment points, in the order of the detector's keypoints (image-left eye first).
NOSE_TIP = 1
MOUTH_RIGHT_CORNER = 61
MOUTH_LEFT_CORNER = 291
CHIN = 152
FOREHEAD_TOP = 10
