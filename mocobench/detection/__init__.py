"""Detection transfer (Pascal VOC through Detectron2): weight export, data, training and evaluation."""
