"""Training-data tooling: distinct frames out of videos, near-duplicates out of image sets.

* :func:`extract` / :class:`ExtractOptions`: streaming, resumable frame extraction with
  ffmpeg's mpdecimate rule, a perceptual hash or SSIM, plus sampling (min gap, per scene);
  writes PNG/JPEG frames (and grayscale inputs) and a JSONL/CSV manifest.
* :func:`find_duplicates` / :func:`dedup`: near-duplicate groups over a whole image set (one
  folder or several) with a multi-index hash index (no all-pairs comparison);
  :func:`hash_table_on_ray`: the hashing of a large set cut into chunks, run as Ray tasks.
* :mod:`.hashing`: 64-bit dHash/pHash; :mod:`.mpdecimate`: ffmpeg's decision rule.
"""

from .dedup import (DedupReport, HashTable, dedup, find_duplicates, group_leaders, hash_images, hash_table,
                    hash_table_on_ray, near_pairs)
from .extract import (ExtractOptions, ExtractResult, Kept, Selector, extract, extract_on_ray, find_sources, gray_l,
                      select_frames)
from .hashing import dhash, hamming, hash_hex, image_hash, phash
from .manifest import read_jsonl, timecode
from .mpdecimate import Mpdecimate

__all__ = ["extract", "extract_on_ray", "ExtractOptions", "ExtractResult", "Kept", "Selector", "select_frames",
           "find_sources", "gray_l", "dedup", "DedupReport", "find_duplicates", "near_pairs", "group_leaders",
           "hash_images", "HashTable", "hash_table", "hash_table_on_ray",
           "dhash", "phash", "image_hash", "hamming", "hash_hex", "timecode", "read_jsonl", "Mpdecimate"]
