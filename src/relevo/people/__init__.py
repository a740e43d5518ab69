"""People: the attributes applications tell about each person, kept in the person's region."""
