import os

__version__ = "0.1.0"

# cv2 runs single-threaded in every mocobench process, set before any module imports cv2 (OpenCV reads it
# at its first parallel call). The DataLoader workers are the parallelism; and a cv2 thread pool alive in the
# parent when a worker is forked deadlocks that worker for ever (its `cv2.setNumThreads` waits in
# pthread_cond_destroy for pool threads the fork did not copy; tests/loading/test_fork_safety.py).
os.environ["OPENCV_FOR_THREADS_NUM"] = "1"
