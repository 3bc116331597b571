"""Classroom rooms: a teacher's view that students follow, and the polls the class answers together."""
