"""Images carrying provenance evidence, built in the tests: PNG generator chunks, XMP digital source type, EXIF,
a C2PA manifest signed with a throwaway key and certificate, the Stable Diffusion watermark, plain photographs."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from fakescope.core import optional

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def photo(seed: int = 0, size: tuple[int, int] = (320, 288)) -> np.ndarray:
    """A smooth, textured RGB image (large enough for the watermark: ≥ 256×256)."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (9, 9), 3)


def skimage_photo(name: str = "astronaut") -> np.ndarray:
    """A real photograph bundled with scikit-image."""
    from skimage import data

    image = getattr(data, name)()
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def png_bytes(image: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def xmp_packet(source_type: str = "trainedAlgorithmicMedia", creator_tool: str | None = None) -> bytes:
    tool = f' xmp:CreatorTool="{creator_tool}"' if creator_tool else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/"{tool}'
        f' Iptc4xmpExt:DigitalSourceType="{DST}{source_type}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def jpeg_bytes(image: np.ndarray, *, xmp: bytes | None = None, exif: dict[int, object] | None = None,
               quality: int = 92) -> bytes:
    kwargs = {}
    if xmp is not None:
        kwargs["xmp"] = xmp
    if exif:
        e = Image.Exif()
        for k, v in exif.items():
            e[k] = v
        kwargs["exif"] = e.tobytes()
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def watermarked(image: np.ndarray, message: bytes = b"StableDiffusionV1") -> np.ndarray:
    """``image`` with Stable Diffusion's invisible watermark, embedded by invisible-watermark as SD's scripts do."""
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    enc.set_watermark("bytes", message)
    return np.ascontiguousarray(enc.encode(np.ascontiguousarray(image[..., ::-1]), "dwtDct")[..., ::-1])


def throwaway_signer():
    """A c2pa Signer with a fresh EC key and a certificate issued by a fresh CA (on no trust list)."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fakescope tests")])

    def usage(**on) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
                              False)
        return x509.KeyUsage(**{**flags, **on})

    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    end = start + datetime.timedelta(days=3650)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("fakescope test signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, pem, None))


def c2pa_signed(data: bytes, mime: str = "image/png", *, generator: str = "TestDiffusion",
                source_type: str | None = "trainedAlgorithmicMedia", remote_url: str | None = None) -> bytes:
    """``data`` (an encoded image) with a C2PA manifest signed by :func:`throwaway_signer`; with ``remote_url``
    the manifest is not embedded and the file only points to that address."""
    import c2pa

    action = {"action": "c2pa.created"}
    if source_type:
        action["digitalSourceType"] = DST + source_type
    manifest = {"claim_generator_info": [{"name": generator, "version": "1.0"}], "title": "image",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}
    builder = c2pa.Builder(json.dumps(manifest))
    if remote_url:
        builder.set_no_embed()
        builder.set_remote_url(remote_url)
    out = io.BytesIO()
    builder.sign(throwaway_signer(), mime, io.BytesIO(data), out)
    return out.getvalue()


def evidence_folder(root: Path) -> dict[str, Path]:
    """One file per kind of evidence, plus plain photographs that carry none; the watermarked one only where
    invisible-watermark, which embeds it, is installed (``make test``) and not hidden."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "plain_png": png_bytes(skimage_photo("astronaut")[::2, ::2]),
        "plain_jpeg": jpeg_bytes(skimage_photo("coffee")),
        "camera_jpeg": jpeg_bytes(skimage_photo("chelsea"), exif={0x010F: "Canon", 0x0110: "EOS 5D"}),
        "a1111_png": png_bytes(photo(1), {"parameters": "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                                                         "Seed: 1, Size: 320x288, Model: sd15"}),
        "comfy_png": png_bytes(photo(2), {"prompt": json.dumps({"3": {"class_type": "KSampler"}}),
                                          "workflow": json.dumps({"nodes": []})}),
        "xmp_jpeg": jpeg_bytes(photo(3), xmp=xmp_packet("trainedAlgorithmicMedia")),
        "software_jpeg": jpeg_bytes(photo(4), exif={0x0131: "Adobe Firefly"}),
        "c2pa_png": c2pa_signed(png_bytes(photo(6))),
    }
    if optional.present("invisible-watermark"):
        files["watermark_png"] = png_bytes(watermarked(photo(5, (512, 512))))
    paths = {}
    for name, data in files.items():
        path = root / f"{name}.{'png' if name.endswith('png') else 'jpg'}"
        path.write_bytes(data)
        paths[name] = path
    return paths
