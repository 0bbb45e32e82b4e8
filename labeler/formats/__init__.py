"""Exchange formats (COCO keypoints, SPair-71k pairs). No torch, no Qt: only the store's public API."""
