"""Operators: reckons (``operators.reckon``) and pushes (``operators.push``); import the modules, not this
package."""
