"""Score records: ``to_json()`` gives the documented fields in the documented order (the CLI's JSON output)."""

from __future__ import annotations

import json

from fakescope.detector.records import FrameEntry, ScoreRecord


def test_an_image_record_has_the_five_fields_and_face_only_when_faces_were_searched():
    plain = ScoreRecord("a.png", "image", score=0.25, label="real")
    assert list(plain.to_json()) == ["path", "kind", "score", "label", "error"]
    faced = ScoreRecord("b.png", "image", error="no face found", face_searched=True)
    assert faced.to_json() == {"path": "b.png", "kind": "image", "score": None, "label": None,
                               "error": "no face found", "face": None}
    assert list(faced.to_json())[-1] == "face"


def test_a_video_record_adds_its_timeline_in_order():
    frames = [FrameEntry(0, 0.0, score=0.9, label="fake", face=[1, 2, 3, 4]), FrameEntry(5, 0.5, status="no face")]
    rec = ScoreRecord("v.mp4", "video", score=0.9, label="fake", frames=frames, aggregate="topk", top_k=2,
                      threshold=0.5, fps=10.0, frame_count=6, frames_decoded=6)
    data = rec.to_json()
    assert list(data) == ["path", "kind", "score", "label", "error", "aggregate", "top_k", "threshold", "fps",
                          "frame_count", "frames_decoded", "frames"]
    assert list(data["frames"][0]) == ["index", "time", "score", "label", "face", "status"]
    assert data["frames"][1] == {"index": 5, "time": 0.5, "score": None, "label": None, "face": None,
                                 "status": "no face"}
    assert rec.frames_summary() == (1, 2)
    assert "top_k" not in ScoreRecord("v.mp4", "video", frames=[], aggregate="mean").to_json()
    json.dumps(data)  # plain JSON


def test_a_video_that_could_not_be_opened_has_no_timeline():
    rec = ScoreRecord("v.mp4", "video", error="not a video")
    assert not rec.has_timeline and list(rec.to_json()) == ["path", "kind", "score", "label", "error"]


def test_a_video_labelled_by_vote_is_flagged_by_its_share_of_fake_frames():
    """With --aggregate vote the score stays the frames' mean; the reason given is the vote that set the label."""
    from fakescope.detector.records import ScoreRecord

    rec = ScoreRecord("v.mp4", "video", score=0.31, label="fake", aggregate="vote", vote_share=0.6)
    assert rec.flagged_by() == ["detector: 60% of frames fake"]
    assert ScoreRecord("a.png", "image", score=0.93, label="fake").flagged_by() == ["detector 0.93"]
