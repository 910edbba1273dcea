"""Voice Studio on Ray Serve: the application (``application.build``), its options
(``options``), the ingress deployment (``ingress``), the ``serve-ray`` command (``cli``) and
``serve.yaml`` for ``serve run`` / KubeRay. Needs ``requirements-ray.txt``."""
