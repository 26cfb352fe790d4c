"""Named indices into MediaPipe's 478-point face mesh, in one place.

Every module that reads a point of the mesh by index takes it from here, so a point
has one name and one number. "Right" and "left" are the subject's own, as in the
blend-shape names: the subject's right eye appears on the image's left. Indices
0-467 are the face mesh, 468-472 the right iris and 473-477 the left iris.
"""

from __future__ import annotations

RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_INNER, LEFT_EYE_OUTER = 362, 263
EYE_CORNERS = ((RIGHT_EYE_OUTER, RIGHT_EYE_INNER), (LEFT_EYE_INNER, LEFT_EYE_OUTER))
"""The corners of the subject's right eye, then of the left eye."""

RIGHT_LIDS = ((160, 144), (159, 145), (158, 153))
LEFT_LIDS = ((385, 380), (386, 374), (387, 373))
"""(upper, lower) lid pairs across each eye, outer to inner; the middle pair is the
lid centre."""

RIGHT_IRIS, LEFT_IRIS = 468, 473
RIGHT_BROW, LEFT_BROW = 105, 334
NOSE_BRIDGE, NOSE_TIP = 6, 1
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
UPPER_LIP, LOWER_LIP = 13, 14

FIVE_POINTS = (RIGHT_IRIS, LEFT_IRIS, NOSE_TIP, MOUTH_RIGHT, MOUTH_LEFT)
"""The mesh's version of the detector's five points, in ``detect.POINT_NAMES`` order."""

RIGID = (33, 133, 362, 263, 6, 168, 1, 4, 234, 454, 10, 127, 356)
"""Points no facial action moves: eye corners, nose, cheeks, forehead, temples."""

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
    109,
)  # fmt: skip
"""The face outline, in order around the face."""
