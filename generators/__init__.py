"""fakescope's lower layer: real image sources, GAN families, GAN training, sampling and corpus writing."""
