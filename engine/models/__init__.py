"""Registered models. Importing this package registers every family.

Use ``create_model(name, **kwargs)`` and ``list_models()``.
"""

from engine.models import deephar as deephar  # registers deephar_*
from engine.models import form_net as form_net  # registers form_handstand*
from engine.models.registry import create_model as create_model
from engine.models.registry import list_models as list_models
from engine.models.registry import register_model as register_model
