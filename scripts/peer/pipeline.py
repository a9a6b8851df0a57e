#!/usr/bin/env python3
"""A plain Python video-analytics pipeline, the outside peer anttd is measured against
(issue 15, `scripts/peer-bench`): what a competent engineer writes in an afternoon with the
usual libraries. The same job as `anttd run` on one file camera, as fast as it goes:

    OpenCV decode -> letterbox to the model's 640x640 -> ONNX Runtime (same model, same threads)
    -> YOLOv8-style decoding, score filter, class-wise NMS (NumPy) -> supervision's ByteTrack
    -> paho-mqtt: one JSON message when a track starts and one when it ends (QoS 1)

Usage: pipeline.py VIDEO MODEL.onnx --labels person,car,... --threads 2 --fps 10 [--host H --port P]
"""
import argparse
import json
import time
import uuid

import cv2
import numpy as np
import onnxruntime as ort
import paho.mqtt.client as mqtt
import supervision as sv


def letterbox(frame, size=640, pad=114):
    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((size, size, 3), pad, dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = resized
    return out, scale, left, top


def nms(boxes, scores, iou):
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        ious = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter + 1e-9)
        order = order[1:][ious <= iou]
    return keep


def decode(out, scale, left, top, wanted, score_min=0.1, iou=0.45, max_det=300):
    pred = out[0].T  # (8400, 4 + classes)
    cls = pred[:, 4:].argmax(1)
    score = pred[np.arange(len(pred)), 4 + cls]
    m = (score >= score_min) & np.isin(cls, wanted)
    pred, cls, score = pred[m], cls[m], score[m]
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    boxes = (boxes - [left, top, left, top]) / scale
    keep = []
    for c in np.unique(cls):
        idx = np.where(cls == c)[0]
        keep.extend(idx[nms(boxes[idx], score[idx], iou)])
    keep = sorted(keep, key=lambda i: -score[i])[:max_det]
    return boxes[keep], score[keep], cls[keep]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("model")
    ap.add_argument("--labels", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    a = ap.parse_args()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    names = eval(sess.get_modelmeta().custom_metadata_map["names"])  # {0: 'person', ...}
    wanted = [i for i, n in names.items() if n in a.labels.split(",")]
    inp = sess.get_inputs()[0].name

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"peer-{uuid.uuid4()}")
    client.connect(a.host, a.port)
    client.loop_start()
    tracker = sv.ByteTrack(frame_rate=int(a.fps))
    cap = cv2.VideoCapture(a.video)
    src_fps = cap.get(cv2.CAP_PROP_FPS) or a.fps
    step = max(1, round(src_fps / a.fps))
    live, frames, n = {}, 0, 0
    t0 = time.time()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
        if (n - 1) % step:
            continue
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        img, scale, left, top = letterbox(rgb)
        x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = sess.run(None, {inp: x})[0]
        boxes, scores, cls = decode(out, scale, left, top, wanted)
        dets = sv.Detections(xyxy=boxes.astype(np.float32), confidence=scores, class_id=cls)
        tracked = tracker.update_with_detections(dets)
        now = set()
        for tid, c in zip(tracked.tracker_id, tracked.class_id):
            now.add(int(tid))
            if tid not in live:
                live[int(tid)] = names[int(c)]
                msg = {"type": "start", "track_id": int(tid), "label": names[int(c)], "ts": time.time()}
                client.publish("peer/events", json.dumps(msg), qos=1)
        for tid in [t for t in live if t not in now]:
            msg = {"type": "end", "track_id": tid, "label": live.pop(tid), "ts": time.time()}
            client.publish("peer/events", json.dumps(msg), qos=1)
        frames += 1
    client.loop_stop()
    client.disconnect()
    secs = time.time() - t0
    print(json.dumps({"frames": frames, "seconds": round(secs, 2), "fps": round(frames / secs, 2)}))


if __name__ == "__main__":
    main()
