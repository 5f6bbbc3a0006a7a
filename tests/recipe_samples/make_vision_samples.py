"""Writes the vision recipes' sample rows in each benchmark's published layout (run once; the outputs are committed).

The pictures are the project's own cuts of real images from installed packages
(``suites/images/recognition/``, made from pydicom, pydicom-data and
scikit-image test files; ``manifest.jsonl`` there says which file and which
DICOM Modality each comes from). Every question asks about something the
source file states (its DICOM Modality, or the package's description), so each
answer key can be checked against the manifest.

    .venv/bin/python tests/recipe_samples/make_vision_samples.py
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

HERE = Path(__file__).parent
PICTURES = HERE.parents[1] / "suites" / "images" / "recognition"

CHEST_CR = "rg1-unci-test-000.png"  # RG1_UNCI.dcm: Modality CR, BodyPartExamined chest
ABDOMEN_CT = "explicit-vr-un-test-001.png"  # explicit_VR-UN.dcm: Modality CT, BodyPartExamined pancreas
HEAD_MR = "emri-small-test-001.png"  # emri_small.dcm: Modality MR, head
ULTRASOUND = "us1-unci-test-000.png"  # US1_UNCI.dcm: Modality US (a colour Doppler frame)

# VQA-RAD (flaviagiammarino/vqa-rad): columns image {bytes, path}, question, answer; answers lower case.
VQA_RAD = [
    (CHEST_CR, "is this a plain radiograph?", "yes"),
    (ABDOMEN_CT, "is this an mri?", "no"),
    (CHEST_CR, "what imaging modality was used?", "x-ray"),  # open: left out by the recipe's filter
    (HEAD_MR, "was this image acquired with magnetic resonance?", "yes"),
    (ULTRASOUND, "is this a ct scan?", "no"),
]


def vqa_rad() -> None:
    _parquet(VQA_RAD, HERE / "vqa_rad")


# PathVQA (flaviagiammarino/path-vqa): the same columns as VQA-RAD. The pictures are scikit-image's
# immunohistochemistry image ("IHC-stained colonic glands", microscopy) cut by the project.
COLON_IHC = "immunohistochemistry-test-001.png"
COLON_IHC_WIDE = "immunohistochemistry-test-000.png"
PATH_VQA = [
    (COLON_IHC, "is this a microscopic section of tissue?", "yes"),
    (COLON_IHC_WIDE, "what stain was used?", "immunohistochemistry"),  # open: left out by the recipe's filter
    (COLON_IHC_WIDE, "is this a plain radiograph?", "no"),
    (COLON_IHC, "does this section show glands?", "yes"),
    (COLON_IHC, "is this a ct scan?", "no"),
]


def path_vqa() -> None:
    _parquet(PATH_VQA, HERE / "path_vqa")


def _parquet(rows_in: list[tuple[str, str, str]], folder: Path) -> None:
    """A Parquet file with the columns image {bytes, path}, question, answer, as the HF datasets publish them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image), ("question", pa.string()), ("answer", pa.string())])
    rows = [
        {"image": {"bytes": (PICTURES / name).read_bytes(), "path": name}, "question": q, "answer": a}
        for name, q, a in rows_in
    ]
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "test.parquet")


# SLAKE (BoKelvin/SLAKE): test.json, a list of objects; images under imgs/<img_name> (JPEG).
SLAKE_IMAGES = {"xmlab1": CHEST_CR, "xmlab2": ABDOMEN_CT, "xmlab3": HEAD_MR}
SLAKE = [
    # qid, image, language, question, answer, answer_type, location, modality, content_type
    (1, "xmlab1", "en", "Is this image taken via X-Ray?", "Yes", "CLOSED", "Chest", "X-Ray", "Modality"),
    (2, "xmlab1", "zh", "这张图片是通过X光拍摄的吗?", "是", "CLOSED", "Chest", "X-Ray", "Modality"),  # not English
    (3, "xmlab2", "en", "Is this an MRI image?", "No", "CLOSED", "Abdomen", "CT", "Modality"),
    (4, "xmlab2", "en", "Which modality is used to take this image?", "CT", "OPEN", "Abdomen", "CT", "Modality"),
    (5, "xmlab3", "en", "Was this image acquired with MRI?", "Yes", "CLOSED", "Head", "MRI", "Modality"),
    (6, "xmlab2", "en", "Is this a CT or an MRI?", "CT", "CLOSED", "Abdomen", "CT", "Modality"),  # closed, not yes/no
    (7, "xmlab1", "en", "Does this image show the chest?", "Yes", "CLOSED", "Chest", "X-Ray", "Organ"),
]


def slake() -> None:
    from PIL import Image

    folder = HERE / "slake"
    for directory, name in SLAKE_IMAGES.items():
        (folder / "imgs" / directory).mkdir(parents=True, exist_ok=True)
        Image.open(PICTURES / name).convert("RGB").save(folder / "imgs" / directory / "source.jpg", quality=90)
    ids = {directory: n for n, directory in enumerate(SLAKE_IMAGES, start=1)}
    rows = [
        {
            "img_id": ids[image],
            "img_name": f"{image}/source.jpg",
            "question": question,
            "answer": answer,
            "q_lang": lang,
            "location": location,
            "modality": modality,
            "answer_type": answer_type,
            "base_type": "vqa",
            "content_type": content,
            "triple": ["vhead", "_", "_"],
            "qid": qid,
        }
        for qid, image, lang, question, answer, answer_type, location, modality, content in SLAKE
    ]
    (folder / "test.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# GMAI-MMBench (VLMEvalKit's GMAI_mm_bench_VAL.tsv): index, question, options A-E (unused ones empty),
# answer (a letter), the three group columns, image (base64; a short value is another row's index).
GMAI_COLUMNS = ["index", "question", "A", "B", "C", "D", "E", "answer", "clinical vqa task", "department"]
GMAI_COLUMNS += ["perceptual granularity", "image"]
MODALITY = "Which imaging modality produced this image?"
GMAI = [
    (CHEST_CR, MODALITY, ["CT", "MRI", "X-ray", "Ultrasound", ""], "C", "Modality Recognition", "Pulmonary Medicine"),
    (
        "0",  # the picture of row 0, by reference
        "Which body region does this radiograph show?",
        ["Chest", "Knee", "Skull", "Pelvis", ""],
        "A",
        "Organ Recognition - Thorax",
        "Pulmonary Medicine",
    ),
    (
        ABDOMEN_CT,
        MODALITY,
        ["X-ray", "CT", "MRI", "Ultrasound", "PET"],
        "B",
        "Modality Recognition",
        "Gastroenterology",
    ),
    (ULTRASOUND, MODALITY, ["Ultrasound", "CT", "MRI", "X-ray", ""], "A", "Modality Recognition", "Radiology"),
]


def gmai() -> None:
    folder = HERE / "gmai_mmbench"
    folder.mkdir(exist_ok=True)
    with (folder / "GMAI_mm_bench_VAL.tsv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(GMAI_COLUMNS)
        for index, (picture, question, options, answer, task, department) in enumerate(GMAI):
            image = picture if picture.isdigit() else base64.b64encode((PICTURES / picture).read_bytes()).decode()
            writer.writerow([index, question, *options, answer, task, department, "Image Level", image])


# PMC-VQA (xmcmic/PMC-VQA, test_clean.csv): Figure_path, Question, Answer, Choice A..D (each cell starts
# with its label, "A:..."), Answer_label; images under images/ (images.zip). The figure names are made up.
PMC_COLUMNS = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
PMC_VQA = [
    (CHEST_CR, "Which imaging technique was used to obtain this image?",
     ["CT", "MRI", "Radiography (X-ray)", "Ultrasound"], "C"),
    (ABDOMEN_CT, "What type of scan is shown in the image?",
     ["Computed tomography", "Magnetic resonance imaging", "Positron emission tomography", "Plain radiograph"], "A"),
    (HEAD_MR, "Which body region is shown in this magnetic resonance image?", ["Knee", "Abdomen", "Head", "Hand"], "C"),
    (ULTRASOUND, "Which imaging modality produced this image?", ["MRI", "Ultrasound", "CT", "X-ray"], "B"),
]  # fmt: skip


def pmc_vqa() -> None:
    from PIL import Image

    folder = HERE / "pmc_vqa"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with (folder / "test_clean.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(PMC_COLUMNS)
        for number, (picture, question, options, label) in enumerate(PMC_VQA, start=1):
            figure = f"PMC000000{number}_F1.jpg"  # no real PMC id starts with 0
            Image.open(PICTURES / picture).convert("RGB").save(folder / "images" / figure, quality=90)
            cells = [f"{letter}:{text}" for letter, text in zip("ABCD", options, strict=True)]
            writer.writerow([figure, question, options["ABCD".index(label)], *cells, label])


# OmniMedVQA (QA_information/Open-access/<source dataset>.json, a list of objects): image_path (relative to
# the dataset's root, under Images/), question, gt_answer (the option's text), option_A.. (absent when a
# question has fewer options), question_type, modality_type. ACRIMA is one of its fundus sources.
FUNDUS, FUNDUS_WHOLE, FUNDUS_2 = "retina-test-000.png", "microaneurysms-test-001.png", "retina-test-001.png"
OMNI = [
    (FUNDUS, "What imaging modality was used to capture this image?",
     ["Fundus photography", "CT", "MRI", "Ultrasound"], "Modality Recognition"),
    (FUNDUS_WHOLE, "Which organ is shown in this image?", ["Eye", "Lung"], "Anatomy Identification"),
    (FUNDUS_2, "Which imaging modality is shown?", ["MRI", "Fundus photography", "X-ray"], "Modality Recognition"),
]  # fmt: skip
OMNI_KEYS = ["Fundus photography", "Eye", "Fundus photography"]


def omnimedvqa() -> None:
    root = HERE / "omnimedvqa"
    (root / "Images" / "ACRIMA").mkdir(parents=True, exist_ok=True)
    (root / "QA_information" / "Open-access").mkdir(parents=True, exist_ok=True)
    rows = []
    for number, ((picture, question, options, kind), key) in enumerate(zip(OMNI, OMNI_KEYS, strict=True), start=1):
        image = f"Images/ACRIMA/sample_{number:03d}.png"  # made-up file names
        (root / image).write_bytes((PICTURES / picture).read_bytes())
        row = {"question_type": kind, "question": question, "gt_answer": key, "image_path": image}
        row |= {f"option_{letter}": text for letter, text in zip("ABCD", options, strict=False)}
        rows.append({**row, "modality_type": "Fundus Photography"})
    text = json.dumps(rows, indent=1) + "\n"
    (root / "QA_information" / "Open-access" / "ACRIMA.json").write_text(text, encoding="utf-8")


# MediConfusion (github MShahabSepehri/MediConfusion, data/dataset.json): an object keyed by pair id; each record
# one question, two options and two ROCO images (paths under the ROCO repository's data/ folder), each image
# with its own key. The ROCO file numbers are made up (9990x); Cerebral and Vascular are category names the
# published file uses, Abdominal and Lung stand for the regions of the pictures (not checked against its list).
MEDICONFUSION = [
    # pair id, (image 1, its key), (image 2, its key), question, option A, option B, categories 1, categories 2
    ("10001", (ABDOMEN_CT, "A"), (CHEST_CR, "B"), "Which imaging technique produced this image?",
     "Computed tomography", "Plain radiography", ["Abdominal"], ["Lung"]),
    ("10002", (HEAD_MR, "A"), (CHEST_CR, "B"), "Which body region does this image show?",
     "The head", "The chest", ["Cerebral"], ["Lung"]),
    ("10003", (ULTRASOUND, "A"), (HEAD_MR, "B"), "How was this image acquired?",
     "With ultrasound", "With magnetic resonance", ["Vascular"], ["Cerebral"]),
]  # fmt: skip
ROCO_NAMES = {ABDOMEN_CT: "ROCO_99901", CHEST_CR: "ROCO_99902", HEAD_MR: "ROCO_99903", ULTRASOUND: "ROCO_99904"}


def mediconfusion() -> None:
    from PIL import Image

    folder = HERE / "mediconfusion"
    images = folder / "roco-dataset" / "data" / "test" / "radiology" / "images"
    images.mkdir(parents=True, exist_ok=True)
    for picture, name in ROCO_NAMES.items():
        Image.open(PICTURES / picture).convert("RGB").save(images / f"{name}.jpg", quality=90)
    records = {}
    for number, (pair, first, second, question, option_a, option_b, cat_1, cat_2) in enumerate(MEDICONFUSION):
        record: dict[str, object] = {}
        for side, picture in (("1", first[0]), ("2", second[0])):
            record[f"im_{side}"] = f"test/radiology/images/{ROCO_NAMES[picture]}.jpg"
            record[f"im_{side}_local"] = 20000 + 2 * number + int(side)
        record |= {"cap_1": " Sample caption (not a ROCO caption).", "cap_2": " Sample caption (not a ROCO caption)."}
        record |= {"category_1": cat_1, "category_2": cat_2, "BiomedCLIP_sim": 0.9, "DINO_sim": 0.6}
        record |= {"question": question, "option_A": option_a, "option_B": option_b}
        record |= {"im_1_correct": first[1], "im_2_correct": second[1]}
        record |= {"AI_question": question, "AI_option_A": option_a, "AI_option_B": option_b}
        records[pair] = record
    (folder / "dataset.json").write_text(json.dumps(records, indent=4) + "\n", encoding="utf-8")


# ProbMed (github eric-ai-lab/ProbMed; the Hugging Face dataset rippleripple/ProbMed, gated): test.json, a flat
# list of questions with the keys ProbMed's own code reads (eval/inference/*, eval/calculate_score.py): id (the
# image's, shared by its questions), image (a path under the image folder), image_type, qa_type (the category and
# the question's role: <category>_gt asks about what is there, <category>_hallu about a hallucinated attribute),
# question, answer (yes/no). The image file names and the image_type spellings are made up.
PROBMED_IMAGES = {"1": (ABDOMEN_CT, "ct_abdomen"), "2": (CHEST_CR, "x-ray_chest")}
PROBMED = [
    ("1", "modality_gt", "Is this a CT scan?", "yes"),
    ("1", "modality_hallu", "Is this an MRI scan?", "no"),
    ("1", "body_part_gt", "Does this image show the abdomen?", "yes"),
    ("1", "body_part_hallu", "Does this image show the brain?", "no"),
    ("2", "modality_gt", "Is this an X-ray image?", "yes"),
    ("2", "modality_hallu", "Is this a CT scan?", "no"),
    ("2", "body_part_gt", "Does this image show the chest?", "yes"),
    ("2", "body_part_hallu", "Does this image show the brain?", "no"),
]


def probmed() -> None:
    from PIL import Image

    folder = HERE / "probmed"
    (folder / "probmed" / "sample").mkdir(parents=True, exist_ok=True)
    for image_id, (picture, _) in PROBMED_IMAGES.items():
        Image.open(PICTURES / picture).convert("RGB").save(
            folder / "probmed" / "sample" / f"{image_id}.jpg", quality=90
        )
    rows = [
        {
            "id": image_id,
            "image": f"sample/{image_id}.jpg",
            "image_type": PROBMED_IMAGES[image_id][1],
            "qa_type": qa_type,
            "question": question,
            "answer": answer,
        }
        for image_id, qa_type, question, answer in PROBMED
    ]
    (folder / "test.json").write_text(json.dumps(rows, indent=4) + "\n", encoding="utf-8")


# MedXpertQA MM (TsinghuaC3I/MedXpertQA on Hugging Face, MM/test.jsonl): id, question (the stem, then
# "Answer Choices: (A) .. (E) .." as the benchmark writes them), options (an object A..E), label (a letter),
# images (file names in images.zip), medical_task, body_system, question_type. The ids (MM-90xx) and file
# names are made up; the body_system and medical_task values are the benchmark's own names.
MEDXPERTQA = [
    # id, pictures (Figure A, B, ...), stem, options A..E, label, medical_task, body_system
    ("MM-9001", [ABDOMEN_CT, CHEST_CR], "Two studies of the same patient are shown. Which of them is a "
     "cross-sectional image?", ["Figure A", "Figure B", "Both", "Neither", "Cannot be determined"], "A",
     "Basic Medicine", "Digestive"),
    ("MM-9002", [HEAD_MR], "Which imaging technique produced Figure A?", ["Computed tomography",
     "Magnetic resonance imaging", "Ultrasonography", "Plain radiography", "Positron emission tomography"], "B",
     "Basic Medicine", "Nervous"),
    ("MM-9003", [CHEST_CR, ULTRASOUND], "Which of the two images was acquired without ionizing radiation?",
     ["Figure A", "Figure B", "Both", "Neither", "Cannot be determined"], "B", "Basic Medicine", "Respiratory"),
]  # fmt: skip


def medxpertqa() -> None:
    from PIL import Image

    folder = HERE / "medxpertqa"
    (folder / "MM").mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    lines = []
    for qid, pictures, stem, options, label, task, system in MEDXPERTQA:
        names = [f"{qid}-{letter}.jpeg" for letter in "abcdefgh"[: len(pictures)]]
        for picture, name in zip(pictures, names, strict=True):
            Image.open(PICTURES / picture).convert("RGB").save(folder / "images" / name, quality=90)
        listed = " ".join(f"({letter}) {text}" for letter, text in zip("ABCDE", options, strict=True))
        row = {
            "id": qid,
            "question": f"{stem} Answer Choices: {listed}",
            "options": dict(zip("ABCDE", options, strict=True)),
        }
        row |= {"label": label, "images": names, "medical_task": task, "body_system": system}
        lines.append(json.dumps({**row, "question_type": "Understanding"}))
    (folder / "MM" / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    vqa_rad()
    path_vqa()
    slake()
    gmai()
    pmc_vqa()
    omnimedvqa()
    mediconfusion()
    probmed()
    medxpertqa()


if __name__ == "__main__":
    main()
