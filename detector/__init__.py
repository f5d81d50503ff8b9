"""fakescope's upper layer: detector families, training, calibration, scoring of images and video, metrics."""
