"""``deid``: live face de-identification without training. Every face gets a synthetic identity (a
random face drawn from a PCA texture model of hundreds of faces, facecanvas.deid.model) put on by the
mesh swap (facecanvas.swap), so pose, expression, gaze, lighting and occluders stay; the package's
recognizer (SFace) then checks every output face against its input and escalates a face it still
recognises: another identity further from the mean face at full strength, then the fallback (the
eraser's blank face, or a strong blur)."""

from __future__ import annotations

import copy
import dataclasses
from collections import OrderedDict, namedtuple
from dataclasses import dataclass, field

import cv2
import numpy as np

from ...analysis.face import Face
from ...analysis.identity import SFACE_THRESHOLD
from ...errors import InputError
from ..base import Operation, OpResult, Options, option

FALLBACKS = ("blank", "blur", "none")
# Further identities tried (z x 1.3, shape 0.6, full strength) before the fallback. 5, not 3 (development
# people, mean of 4 keys, 2026-12-06): detected 0.942 -> 0.983, blank-face fallback 0.058 -> 0.017, SFace
# rank-1 0.39 -> 0.36, still verified 0.017 both, pose 2.49 -> 2.51 deg, expression 2.05 -> 2.16 (the faces
# that got the blank face now get an escalated identity, whose larger shape change costs expression).
ALTERNATIVES = 5
# Photos try 7 further identities, the first 2 drawn like the pseudonym (z x 1, shape 0.25), the strong ones
# after them: on the 30-face sheet and the 77-face glasses sheet the strong draws' faults (pale or coloured
# eye rings, red lips, dark patches) were what the escalated children and a bearded man showed. Development
# people (SFace, 4 keys, 2026-12-07; dlib not looked at), 5 strong -> 2 plain + 5 strong: still verified 0.017
# -> 0.008, rank-1 0.383 -> 0.400, pose 2.49 -> 2.31 deg, expression 1.71 -> 1.63, tone 2.92 -> 2.78,
# detected 0.992 and fallback 0.008 both (2 plain + 3 strong: fallback 0.017; 5 plain: 0.050). On the
# sheets it changed 26 escalated faces: 4 looked better (two toddlers without green eyes and dark patches,
# two men without red lips), 2 lost their glasses (they needed the identities over them), the rest alike.
# Video tracks keep 5 strong ones: on the 17 development clips the plain ones let SFace verify 0.020 of
# sampled frames (0.009) with 8 fallback frames (4) and more flicker (1.24 against 1.18), for mouth
# correlation 0.874 (0.863).
PHOTO_ALTERNATIVES, PLAIN_ALTERNATIVES = 7, 2
PHOTO_MAX_SIDE, VIDEO_MAX_SIDE = 512, 256
# The mesh swap's settings for deid where they differ from the swap's own defaults (swap.SwapSettings):
# the blend region stops 2 % of the eye distance inside the face oval, for photos and video alike.
# - Video and live: reaching the oval (the swap's margin 0), the edit's edge sits on the tracked outline
#   and jitters with it: on the development clip (liveportrait/driving_d10, 120 frames; the evaluation's
#   clips were not used) the face region flickered 2.33x the input's, 0.99x with the margin.
# - Photos (development people 0-5, SFace, after the synthetic texture was sampled at its own mean mesh,
#   2026-12-02): detected 0.933 -> 0.967, fallback 0.067 -> 0.033, SFace rank-1 0.20 -> 0.17, pose
#   2.44 -> 2.49 deg, expression 2.24 -> 2.44. (Before that fix the margin had cost pose error.)
# - The colour transfer never stretches the synthetic texture's chroma (chroma_gain 1): a PCA draw's
#   stray tints (fitted faces' fringes, backgrounds) became cyan patches (dev: UTK fallback 0.075 ->
#   0.05, Glint dev people unchanged within 0.06 deg and 0.03 expression).
# - Fading the upper half of the forehead out to the target's (SwapSettings.forehead 0.5) hid the hairline
#   traces of the first texture model (one key: SFace rank-1 0.17 -> 0.07); on the refitted, cleaned model
#   (mean of 4 keys) it gave rank-1 0.32 -> 0.28 but detected 0.917 -> 0.892, fallback 0.083 -> 0.108,
#   expression 2.27 -> 2.34, so the whole forehead is swapped again.
# top_feather 0: the synthetic identity's forehead faded into the person's at the top edge made one frame
# pair of a track in ten no longer one identity (tests/test_deid.py::test_video_eval_on_a_clip).
SWAP_SETTINGS: dict = {"margin": 0.02, "chroma_gain": 1.0, "top_feather": 0.0}
VIDEO_SWAP_SETTINGS: dict = {}


# Identities put on over the person's glasses, tried after the others (the occlusion setting each
# becomes: the colour check, which keeps any dark frame on top, is dropped; the parser still keeps hair,
# hats and hands). Kept glasses carried the identity: a man in glasses on a group photo stayed at SFace
# 0.38-0.39 through every identity and got the heavy blur, and at 0.20-0.24 over his glasses.
BARE = {"auto": "parser", "heuristic": "off"}

# Along a track, the input face's embedding that outputs are checked against is refreshed every this
# many frames (the person does not change between them; SFace costs ~25 ms a run on a laptop core).
REFERENCE_EVERY = 10
# One new identity per track: a track's first check takes an identity only with this margin under the
# threshold (the best one under the plain threshold if none has it), and a later frame still recognised
# gets a further identity for that frame alone; the track moves to it after ``TRACK_MISSES`` such frames.
# Before, a track moved at its first miss: on development clips (liveportrait d6, d13) a track starting at
# similarity 0.35 against 0.363 crossed it at frame 12 and took a second face for the rest. Chosen on the 17
# liveportrait clips with SFace (margin 0.05 and 0, misses 2-8 tried): same-identity pairs 0.932 -> 0.974,
# SFace still verified 0.014 -> 0.006, but blurred fallback frames 2 -> 3 of 2,040 (clip s29).
TRACK_MARGIN = 0.03
# A photo whose pseudonym is still recognised chooses (DeidOptions.choose) among the further identities that
# pass: the one whose re-run face mesh moved least (pose degrees + expression) plus SIM_WEIGHT x its SFace
# similarity to the input (an identity nearer the person's own face moves the mesh less: unweighted, the
# choice made faces more recognisable, SFace rank-1 0.383 -> 0.400). Development people (SFace and the
# mesh, 4 keys, 2026-12-07; dlib not looked at), the first further identity that passes -> choose 6: SFace
# rank-1 0.383 -> 0.358, still verified 0.017 both, pose 2.49 -> 2.27 deg, expression 1.71 -> 1.69, tone
# 2.92 -> 2.75, detected and fallback equal, 91 -> 129 ms a face. It is not the default (choose 1): on the
# 30-face sheet and the 77-face glasses sheet it changed 24 escalated faces: 2 looked better, 6 worse
# (greyer or blotchy skin, pale eye rings, beard-like shadows on women), 16 alike; and the figures it
# improves are measured with the mesh it chooses with. Identities over the glasses are candidates only when none with
# the glasses kept passed (else it took them for 25 more of the 77). Not taken: choosing for every photo, the
# pseudonym included (pose 2.02, expression 1.60 with a 0.05 similarity margin): the escalated identities
# it mostly picked show blue or purple eye rings on the 30-face sheet, and a person's photos would no
# longer share one pseudonym; the same margin alone sent side-lit and dark faces to escalated identities.
# Adding the skin tone shift to the score (weights 0.5, 1): pose 2.32, expression 1.66, tone 2.67, and the
# sheet's escalated children still got the same identities (pale eye rings, grey skin).
SIM_WEIGHT = 5.0
TRACK_MISSES = 5


@dataclass(frozen=True)
class DeidOptions(Options):
    strength: float = option(1.0, "identity distance: 0 leaves faces as they are, 1 puts the synthetic face on "
                             "fully, up to 2 draws it further from the average face (more distinct, less "
                             "natural)", min=0.0, max=2.0, metavar="S")
    key: str | None = option(None, "secret for pseudonyms: the same person gets the same new face in every file "
                             "and run with the same key (no key: new faces every run)", metavar="SECRET")
    except_: str | None = option(None, "a photo of a person to leave untouched (everyone else is de-identified)",
                                 flag="--except", metavar="PHOTO")
    verify: bool = option(True, "check every output face with SFace and escalate faces still recognised",
                          cli=False)
    verify_threshold: float = option(SFACE_THRESHOLD, "SFace similarity (output vs input) at which a face counts "
                                     "as still recognised", min=-1.0, max=1.0, metavar="X")
    # 2, not 1 (2026-12-06): 720p whole CLI run 18.8 -> 22.9 fps with start-up (bench_deid.py; 20.5 -> 25.5
    # fps by the command's own figure after loading) on a 2-core machine; on the 17
    # development clips (SFace, sampled every 5th frame) still verified 0.006 -> 0.009 (one frame of clip
    # s29), same-identity pairs 0.956 -> 0.961, every other figure within 0.01.
    verify_every: int = option(2, "along a video track, check every N-th frame with the recognizer (the track "
                               "keeps what passed in between, the identity or the fallback; photos: every "
                               "face; 1: every frame, slower; live uses 5)", min=1, max=1000, metavar="N")
    choose: int = option(1, "photos: when a face's own pseudonym is still recognised, of the next N identities "
                         "that pass, keep the one whose face mesh (re-run on each) stays nearest the input's head "
                         "pose and expression (1: the first that passes; 6: smaller pose and expression errors, "
                         "about 1.4x the time, but on the contact sheets more changed faces looked worse than "
                         "better; videos always take the first)", min=1, max=12, metavar="N")
    keep_lips: bool = option(False, "keep the person's own lips (outer lip outline, slightly grown): on the "
                             "development people expression error 2.95 -> 2.03, but twice the faces still "
                             "recognised by SFace and sent to the fallback (0.10 -> 0.20)", cli=False)
    fallback: str = option("blank", "what a face still recognised after escalation gets: blank (the eraser's "
                           "featureless face), blur (a strong blur of the face), none (keep the swap)",
                           choices=FALLBACKS)
    occlusion: str = option("auto", "keep things in front of the face (as swap --occlusion)",
                            choices=("auto", "parser", "heuristic", "off"))
    method: str = option("mesh", "mesh: a synthetic identity put on by the mesh swap (no training, the default); "
                         "net: the learned network of Gafni, Wolf & Taigman (needs --model: none ships yet, "
                         "docs/DEID_MODEL_CARD.md)", choices=("mesh", "net"))
    model: str | None = option(None, "ONNX weights of --method net", metavar="ONNX")

    def check(self) -> None:
        if self.key is not None and not str(self.key):
            raise InputError("--key: give a non-empty secret")
        if self.model is not None and self.method != "net":
            raise InputError("--model is for --method net")
        if self.method == "net" and self.model is None:
            raise InputError("--method net needs the trained network (--model; python -m "
                             "facecanvas.train.deid_train, docs/DEID_MODEL_CARD.md); or use --method mesh")


@dataclass
class TrackStats:
    label: str
    frames: int = 0
    checked: int = 0  # frames the recognizer compared (every frame, or every verify_every-th)
    verified: int = 0  # frames whose output SFace no longer matched the input
    escalated: int = 0  # frames that needed the second identity
    fallback: int = 0  # frames that needed the fallback
    untouched: int = 0  # frames left as they were (--except)
    similarity: list = field(default_factory=list)  # output-vs-input SFace similarity per frame

    def to_dict(self) -> dict:
        s = [x for x in self.similarity if x is not None]
        return {"track": self.label, "frames": self.frames, "checked": self.checked, "verified": self.verified,
                "escalated": self.escalated, "fallback": self.fallback, "untouched": self.untouched,
                "max_similarity": round(max(s), 4) if s else None,
                "mean_similarity": round(float(np.mean(s)), 4) if s else None}


class DeidOperation(Operation):
    name = "deid"
    summary = "replace every face with a synthetic identity (keyed pseudonyms), verified with SFace"
    Options = DeidOptions

    def __init__(self, options: DeidOptions | None = None, *, video: bool = False, analyzer=None,
                 embedder=None, model=None):
        super().__init__(options)
        from ...deid.model import TextureModel
        from ...deid.pseudonym import PersonRegistry, Pseudonyms
        from ...swap import SwapSettings

        o = self.options
        self.video = video
        self.model = model or TextureModel.load()
        if embedder is None:
            from ...analysis.identity import SFaceEmbedder

            embedder = SFaceEmbedder()
        self.embedder = embedder
        self.pseudonyms = Pseudonyms(o.key, dim=int(getattr(embedder, "dim", 128)))
        self.registry = PersonRegistry(SFACE_THRESHOLD)
        side = VIDEO_MAX_SIDE if video else PHOTO_MAX_SIDE
        blend = min(1.0, o.strength)
        extra = {**SWAP_SETTINGS, **(VIDEO_SWAP_SETTINGS if video else {})}
        self.settings = SwapSettings(shape=0.25, blend=blend, occlusion=o.occlusion, max_side=side,
                                     parser_every=3 if video else 1, **extra)
        self.strong = SwapSettings(shape=0.6, blend=1.0, occlusion=o.occlusion, max_side=side,
                                   parser_every=3 if video else 1, **extra)
        self.scale = max(1.0, o.strength)
        self._swappers: OrderedDict = OrderedDict()
        self._except = None
        if o.except_:
            self._except = _except_reference(o.except_, analyzer, self.embedder)
        self._eraser = None
        self._net = None
        self._mesh = None  # the face mesh re-run on photos' candidates (choose), made on first use
        if o.method == "net":
            from pathlib import Path

            from ...deidnet import DeidNetwork

            if not Path(o.model).is_file():
                raise InputError(f"{o.model}: de-identification model not found")
            self._net = DeidNetwork(o.model)
        self._tracks: dict = {}  # track_id -> dict(seed, level, state, except)
        self.stats: dict = {}  # label -> TrackStats (kept across reset(): the run's report)
        self._file = 0
        self._calls = 0

    # -- identities -------------------------------------------------------------------------------
    def _swapper(self, seed: int, strong: bool, bare: bool = False):
        from ...swap import MeshSwapper

        k = (seed, strong, bare)
        if k not in self._swappers:
            src = self.model.sample(seed, self.scale * (1.3 if strong else 1.0))
            settings = self.strong if strong else self.settings
            if bare:
                settings = dataclasses.replace(settings, glasses=False, occlusion=BARE.get(settings.occlusion,
                                                                                            settings.occlusion))
            self._swappers[k] = MeshSwapper(src, settings)
            while len(self._swappers) > 16:
                self._swappers.popitem(last=False)
        self._swappers.move_to_end(k)
        return self._swappers[k]

    def _seed_for(self, emb) -> tuple[int, int | None]:
        """(identity seed, person number in this run's registry or None)."""
        person = self.registry.find(emb)
        if person is not None:
            return self.registry.seeds[person], person
        seed = self.pseudonyms.seed(emb, "" if self.pseudonyms.keyed else f"person{len(self.registry.people)}")
        person = self.registry.add(emb, seed)
        return seed, (person if person >= 0 else None)

    def _embed(self, img, face):
        try:
            return self.embedder.embed(img, face)
        except Exception:  # noqa: BLE001 - a face the recognizer cannot crop: no verification possible
            return None

    # -- frame ------------------------------------------------------------------------------------
    def apply(self, frame: np.ndarray, faces: list[Face]) -> OpResult:
        from ...swap.compose import TrackState

        o = self.options
        self._calls += 1
        out = frame.copy()
        done, skipped, seen, boxes = 0, [], set(), []
        frame_stats = {"verified": 0, "escalated": 0, "fallback": 0, "untouched": 0}
        for i, face in enumerate(faces):
            tid = getattr(face, "track_id", -1)
            tid = -1 if tid is None else tid
            emb_in = None
            tr = self._tracks.get(tid) if tid >= 0 else None
            if tr is None:
                emb_in = self._embed(frame, face)
                is_except = bool(self._except is not None and emb_in is not None
                                 and float(emb_in @ self._except) >= SFACE_THRESHOLD)
                if tid >= 0:
                    label = f"file{self._file}:track{tid}"
                else:
                    label = f"image{self._calls}:face{i + 1}"
                seed, person = (None, None) if is_except else self._seed_for(emb_in)
                tr = {"seed": seed, "person": person, "level": 0 if person is None else self.registry.levels[person],
                      "state": TrackState(), "except": is_except, "label": label, "ref": emb_in, "ref_age": 0,
                      "age": -1, "checked": False, "misses": 0, "fallback": None, "bare": False}
                if tid >= 0:
                    self._tracks[tid] = tr
            if tid >= 0:
                seen.add(tid)
            st = self.stats.setdefault(tr["label"], TrackStats(tr["label"]))
            st.frames += 1
            if tr["except"]:
                st.untouched += 1
                frame_stats["untouched"] += 1
                skipped.append(f"face {i + 1} is the --except person; left unchanged")
                continue
            if o.strength <= 0:
                skipped.append(f"face {i + 1}: --strength 0 leaves it unchanged")
                continue
            tr["age"] += 1
            check = o.verify and (tid < 0 or tr["age"] % o.verify_every == 0)
            if check and emb_in is None:
                emb_in = self._reference(tr, frame, face) if tid >= 0 else self._embed(frame, face)
            res, info, sim = None, None, None
            # levels 0..last_swap put on an identity (the network: one); the next is the fallback
            last_swap = 0 if self._net is not None else PHOTO_ALTERNATIVES if tid < 0 else ALTERNATIVES
            plain = PLAIN_ALTERNATIVES if tid < 0 else 0  # further identities drawn like the pseudonym
            # The track's (or the person's) level first, then the higher ones, then the lower ones: a
            # person matched to an earlier one (two children SFace takes for one) gets every identity
            # before the fallback, not only those above the level the earlier photo needed.
            start, bare = min(tr["level"], last_swap), tr["bare"]  # (a photo's level may exceed a video's ladder)
            identities = [*range(start, last_swap + 1), *range(0, start)]
            tries = [(level, bare) for level in identities]
            if not bare and self._net is None:  # then the same identities over the glasses (BARE)
                tries += [(level, True) for level in identities]
            last_identity = len(tries) - 1
            tries += [(last_swap + 1, False), (last_swap + 2, False)]
            if not check and tr.get("fallback") is not None:
                # The track's last check found every identity recognised: the frames up to the next check
                # keep that fallback (they showed a face the recognizer knows, and the face flickered
                # between the identity and the fallback every other frame).
                tries = [(tr["fallback"], False)]
            first = tid >= 0 and check and emb_in is not None and not tr["checked"]
            need = o.verify_threshold - (TRACK_MARGIN if first else 0.0)
            best = None  # on a track's first check: the least recognised identity under the plain threshold
            # photos whose first identity failed: those that passed after it, scored (_moved); the least is kept
            choose = o.choose if tid < 0 and check and emb_in is not None and self._net is None else 1
            passed, failed = [], False
            saved = copy.copy(tr["state"])  # a failed try must not leave its colour statistics on the track
            glasses = tr["bare"]  # the parser saw glasses on the face (the tries over them are for those)
            for n_try, (level, bare) in enumerate(tries):
                # the fallback is next, or the identities over the glasses: the best that passed with them kept
                if passed and (level > last_swap or (bare and not passed[0].bare)):
                    _, sim, res, info, level, bare, tr["state"] = min(passed, key=lambda p: p.score)
                    break
                if level == last_swap + 1 and best is not None:
                    _, sim, res, info, level, bare, tr["state"] = best
                    break
                if bare and not glasses:
                    continue
                tr["state"] = copy.copy(saved)
                trial = out.copy()
                if level <= last_swap and self._net is not None:
                    if "emb" not in tr:  # once per track (setdefault would embed on every frame)
                        tr["emb"] = emb_in if emb_in is not None else self._embed(frame, face)
                    info = None if tr["emb"] is None else _net_face(trial, face, self._net, tr["emb"], o.strength)
                    if info is None:
                        break
                elif level <= last_swap:
                    swapper = self._swapper(_alt_seed(tr["seed"], level), level > plain, bare)
                    info = swapper.swap(trial, face, tr["state"])
                    if info is None:
                        break
                    glasses = glasses or tr["state"].glasses
                    if o.keep_lips:
                        _keep_lips(trial, frame, face)
                else:
                    # the fallback; if even that is recognised, a heavy blur over the whole face box
                    info = self._fallback(trial, face, "blur_heavy" if level > last_swap + 1 else o.fallback)
                    if info is None:
                        break
                last = last_identity if glasses else len(identities) - 1  # the last identity tried
                final = (not check or emb_in is None or level > last_swap + 1
                         or (o.fallback == "none" and n_try == last))
                sim = self._similarity(trial, face, emb_in) if check and emb_in is not None else None
                took = choose > 1 and failed and level <= last_swap and sim is not None and sim < need
                if took:
                    score = self._moved(trial, face) + SIM_WEIGHT * sim
                    passed.append(_Kept(score, sim, trial, info, level, bare, tr["state"]))
                if passed and (len(passed) >= choose or n_try >= last or final):
                    _, sim, res, info, level, bare, tr["state"] = min(passed, key=lambda p: p.score)
                    break
                if took:
                    continue
                if final or sim is None or sim < need:
                    res = trial
                    break
                failed = failed or level <= last_swap
                if first and level <= last_swap and sim < o.verify_threshold and (best is None or sim < best.score):
                    best = _Kept(sim, sim, trial, info, level, bare, tr["state"])
            if res is None:
                skipped.append(f"face {i + 1} is too small or off the picture")
                continue
            if first:
                tr["checked"] = True
            if check and emb_in is not None:
                tr["fallback"] = level if level > last_swap else None
            # The track (and the person, for later photos of this run) keeps the identity that passed; a
            # track moves only after TRACK_MISSES frames its identity failed on, and a frame that needed
            # the fallback never moves it.
            if level <= last_swap and (level, bare) != (tr["level"], tr["bare"]):
                tr["misses"] += 1
                if tid < 0 or first or tr["misses"] >= TRACK_MISSES:
                    tr["level"], tr["bare"], tr["misses"] = level, bare, 0
            if (level, bare) != (tr["level"], tr["bare"]):  # this frame's alone: the track's colour statistics stay
                tr["state"] = saved
            if tr.get("person") is not None:
                self.registry.levels[tr["person"]] = tr["level"]
            out = res
            boxes.append(info)
            done += 1
            st.similarity.append(sim)
            ok = sim is not None and sim < o.verify_threshold
            st.checked += sim is not None
            st.verified += ok
            frame_stats["verified"] += ok
            esc = level <= last_swap and (level > 0 or bare or failed)
            st.escalated += esc
            frame_stats["escalated"] += esc
            st.fallback += level > last_swap
            frame_stats["fallback"] += level > last_swap
        for k in [k for k in self._tracks if k not in seen]:
            del self._tracks[k]
        details = {"deid": frame_stats}
        return OpResult(out, done, skipped, details, mask_of=lambda: _mask(frame.shape, boxes))

    def _reference(self, tr: dict, frame: np.ndarray, face: Face):
        """The track's input embedding that outputs are checked against: the person's own face at most
        ``REFERENCE_EVERY`` frames ago (one SFace run per check, not two), else embedded now."""
        if tr["ref"] is None or tr["age"] - tr["ref_age"] >= REFERENCE_EVERY:
            tr["ref"], tr["ref_age"] = self._embed(frame, face), tr["age"]
        return tr["ref"]

    def _moved(self, img: np.ndarray, face: Face) -> float:
        """How far the face mesh re-run on the edited ``img`` is from the input's: pose error (degrees) plus
        expression error (% of the eye distance), the two figures deid keeps; inf where it finds no face."""
        from ...analysis.mesh_metrics import expression_error, pose_error

        if self._mesh is None:
            from ...analysis.landmarks import FaceMeshLandmarker

            self._mesh = FaceMeshLandmarker()
        pts = self._mesh.landmarks(img, face.detection)
        if pts is None:
            return float("inf")
        return pose_error(face.landmarks, pts) + expression_error(face.landmarks, pts)

    def _similarity(self, img, face, emb_in):
        e = self._embed(img, face)
        return None if e is None else float(e @ emb_in)

    def _fallback(self, img: np.ndarray, face: Face, kind: str):
        """The fallback ``kind`` (blank, blur, blur_heavy) in place on ``img``; returns (box, alpha)."""
        from ...swap.compose import blend_region, face_box, feather

        box = face_box(np.asarray(face.landmarks, np.float64), img.shape)
        x0, y0, x1, y1 = box
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        if kind == "blur_heavy":  # the last resort: the face box and its surround, sigma = width / 5
            pad = int(0.15 * (x1 - x0))
            bx = (max(0, x0 - pad), max(0, y0 - pad), min(img.shape[1], x1 + pad), min(img.shape[0], y1 + pad))
            crop = img[bx[1]:bx[3], bx[0]:bx[2]]
            m = np.zeros(crop.shape[:2], np.float32)
            m[y0 - bx[1]:y1 - bx[1], x0 - bx[0]:x1 - bx[0]] = 1
            a = cv2.GaussianBlur(m, (0, 0), max(1.0, pad / 2))[..., None]
            blurred = cv2.GaussianBlur(crop, (0, 0), max(1.0, (x1 - x0) / 5))
            img[bx[1]:bx[3], bx[0]:bx[2]] = np.clip(blurred * a + crop * (1 - a), 0, 255).astype(np.uint8)
            return _Info(bx, a[..., 0])
        if kind == "blank":
            if self._eraser is None:
                from .. import build

                self._eraser = build("erase", video=self.video)
            img[:] = self._eraser.apply(img, [face]).image
            region = blend_region(np.asarray(face.landmarks, np.float64) - (x0, y0, 0), (0, 0, x1 - x0, y1 - y0), 0)
            return _Info(box, region.astype(np.float32))
        # blur: sigma = face width / 8 over the face oval, feathered
        region = blend_region(np.asarray(face.landmarks, np.float64) - (x0, y0, 0), (0, 0, x1 - x0, y1 - y0), 0)
        crop = img[y0:y1, x0:x1]
        blurred = cv2.GaussianBlur(crop, (0, 0), max(1.0, (x1 - x0) / 8))
        a = feather(region, max(1.0, 0.1 * face.interocular))[..., None]
        img[y0:y1, x0:x1] = np.clip(blurred * a + crop * (1 - a), 0, 255).astype(np.uint8)
        return _Info(box, a[..., 0])

    def reset(self) -> None:
        self._tracks = {}
        self._file += 1

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def describe(self, result: OpResult) -> str:
        d = result.details.get("deid", {})
        text = super().describe(result)
        if d.get("fallback"):
            text += f", {d['fallback']} needed the fallback"
        return text

    def report(self) -> dict:
        """Per-track figures of the run so far, and totals."""
        tracks = [s.to_dict() for s in self.stats.values()]
        edited = [t for t in tracks if t["frames"] > t["untouched"]]
        return {"faces": len(edited), "untouched_faces": len(tracks) - len(edited),
                "frames": sum(t["frames"] - t["untouched"] for t in edited),
                "checked_frames": sum(t["checked"] for t in tracks),
                "verified_frames": sum(t["verified"] for t in tracks),
                "escalated_frames": sum(t["escalated"] for t in tracks),
                "fallback_frames": sum(t["fallback"] for t in tracks),
                "faces_all_verified": sum(1 for t in edited if t["checked"] and t["verified"] == t["checked"]),
                "faces_with_fallback": sum(1 for t in edited if t["fallback"]),
                "verify_threshold": self.options.verify_threshold, "tracks": tracks}


def _keep_lips(img: np.ndarray, orig: np.ndarray, face: Face) -> None:
    """The input's lips (outline grown by 3 % of the eye distance, feathered) back over the swap, in place."""
    from ...analysis import landmark_groups as lg
    from ...swap.compose import face_box

    x0, y0, x1, y1 = face_box(np.asarray(face.landmarks, np.float64), img.shape)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round(face.landmarks[list(lg.LIPS), :2] - (x0, y0)).astype(np.int32)], 255)
    m = cv2.dilate(m, np.ones((3, 3), np.uint8), iterations=max(1, int(0.03 * face.interocular)))
    a = cv2.GaussianBlur(m.astype(np.float32) / 255, (0, 0), max(1.0, 0.04 * face.interocular))[..., None]
    crop = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = np.clip(orig[y0:y1, x0:x1] * a + crop * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def _net_face(img: np.ndarray, face: Face, net, embedding: np.ndarray, strength: float):
    """The network's new face for one face of ``img``, in place, as the paper pastes it: the output blended
    by its own mask, within the convex hull of the landmarks. Returns (box, alpha) info or None."""
    from ...blend import paste_crop_edit
    from ...masks import feather
    from ...masks.parts import interocular

    def edit(crop, pts):
        out, mask = net.run(crop, embedding, min(1.0, strength))
        hull = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(pts[:, :2]).astype(np.int32)), 1)
        return out, feather(hull > 0, max(1.0, 0.05 * interocular(pts))) * mask

    cut = paste_crop_edit(img, face, net.size, edit)
    return None if cut is None else _Info(*cut)


def _alt_seed(seed: int, level: int) -> int:
    """The person's ``level``-th identity (0: the pseudonym itself)."""
    if level == 0:
        return seed
    from ...deid.model import seed_from

    return seed_from("alternative", seed, level)


# An identity tried and kept to take later: the least scored is taken (photos' choose: _moved + SIM_WEIGHT x
# sim; a track's first check: sim).
_Kept = namedtuple("_Kept", "score sim image info level bare state")


@dataclass
class _Info:
    box: tuple
    alpha: np.ndarray


def _mask(shape, infos) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    for info in infos:
        x0, y0, x1, y1 = info.box
        np.maximum(mask[y0:y1, x0:x1], (info.alpha > 0.02).astype(np.uint8) * 255, out=mask[y0:y1, x0:x1])
    return mask


def _except_reference(path: str, analyzer, embedder) -> np.ndarray:
    from ...analysis.identity import embed_largest_face
    from ...errors import NoFaceError
    from ...media.image_io import load_image
    from ...swap.source import _analyzer

    img = load_image(path).bgr
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    with _analyzer(analyzer) as a:
        emb, _ = embed_largest_face(img, a, embedder, aligned=False)
    if emb is None:
        raise NoFaceError(f"{path}: no face found in the --except photo")
    return emb


OPERATION = DeidOperation
